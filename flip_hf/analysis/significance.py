"""Statistics for comparing CTR models on one test split: tie-aware (weighted) AUC, gAUC, DeLong's
test of two correlated AUCs, and bootstraps whose unit is what varies: the users of the test split,
and, hierarchically, the pretraining runs and finetuning seeds of the models being compared.

AUC is the paper's metric (Section V-A3); gAUC, per-user AUC weighted by the user's rows, is the
usual grouped variant of CTR work. DeLong: E. R. DeLong, D. M. DeLong, D. L. Clarke-Pearson (1988),
in the O(n log n) form of X. Sun and W. Xu (2014).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def _binary(labels) -> np.ndarray:
    y = np.asarray(labels).reshape(-1)
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, got values {values[:5].tolist()}.")
    return y.astype(np.float64)


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given their mean rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(xs)]
    mean_rank = (starts + ends + 1) / 2.0  # the mean of ranks start+1 .. end
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


class RankedScores:
    """One model's scores, sorted once, so that its AUC under many row weightings (bootstrap
    replicates) costs two ``bincount``s each: ties count one half (the Mann-Whitney statistic)."""

    def __init__(self, labels, scores):
        self.labels = _binary(labels)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape != self.labels.shape:
            raise ValueError(f"{len(scores)} scores for {len(self.labels)} labels.")
        if not np.isfinite(scores).all():
            raise ValueError("scores must be finite.")
        _, self.group = np.unique(scores, return_inverse=True)  # tie groups in ascending score order
        self.num_groups = int(self.group.max()) + 1 if len(scores) else 0

    def auc(self, weights: np.ndarray | None = None) -> float:
        """The (row-weighted) AUC: P(score of a positive > score of a negative), ties one half."""
        w = np.ones_like(self.labels) if weights is None else np.asarray(weights, dtype=np.float64)
        pos = np.bincount(self.group, w * self.labels, self.num_groups)
        neg = np.bincount(self.group, w * (1.0 - self.labels), self.num_groups)
        total = pos.sum() * neg.sum()
        if total <= 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float(np.dot(pos, below + 0.5 * neg) / total)


def auc(labels, scores, weights=None) -> float:
    """Tie-aware AUC of ``scores`` (optionally row-weighted); NaN when one class is absent."""
    return RankedScores(labels, scores).auc(weights)


def group_auc(labels, scores, groups) -> float:
    """gAUC: the AUC within each group (user), averaged with the group's row count as weight; groups
    with one class only are skipped. NaN when no group has both classes."""
    y = _binary(labels)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    _, g = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
    order = np.lexsort((s, g))
    y, s, g = y[order], s[order], g[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(g)) + 1, len(g)]
    total = weight = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        n_pos = y[a:b].sum()
        n_neg = (b - a) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = midranks(s[a:b])
        u = ranks[y[a:b] == 1].sum() - n_pos * (n_pos + 1) / 2
        total += (b - a) * u / (n_pos * n_neg)
        weight += b - a
    return total / weight if weight else float("nan")


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of AUC(a) = AUC(b) on the same rows: the two AUCs, their difference, its
    standard error, the z statistic and the two-sided p-value."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float


def delong_components(labels, scores) -> tuple[float, np.ndarray, np.ndarray]:
    """(AUC, V10, V01): the structural components of DeLong et al. (1988) — for each positive the
    share of negatives it outranks (ties one half), for each negative the share of positives above it."""
    y = _binary(labels)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    pos, neg = s[y == 1], s[y == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both classes.")
    all_ranks = midranks(np.r_[pos, neg])
    v10 = (all_ranks[:m] - midranks(pos)) / n
    v01 = 1.0 - (all_ranks[m:] - midranks(neg)) / m
    return float(v10.mean()), v10, v01


def delong_test(labels, scores_a, scores_b) -> DeLongResult:
    """DeLong's test for two correlated AUCs (the same test rows scored by two models)."""
    auc_a, v10_a, v01_a = delong_components(labels, scores_a)
    auc_b, v10_b, v01_b = delong_components(labels, scores_b)
    if min(len(v10_a), len(v01_a)) < 2:  # a single positive or negative: no variance estimate
        return DeLongResult(auc_a, auc_b, auc_a - auc_b, float("nan"), float("nan"), float("nan"))
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / len(v10_a) + s01 / len(v01_a)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return DeLongResult(auc_a, auc_b, diff, se, z, math.erfc(abs(z) / math.sqrt(2)))


@dataclass(frozen=True)
class Interval:
    """A bootstrap estimate: the point value (on the data as observed), the percentile interval, the
    replicates' standard deviation, and the two-sided bootstrap p-value of "the value is 0"."""

    estimate: float
    low: float
    high: float
    se: float
    p_value: float
    level: float
    replicates: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("estimate", "low", "high", "se", "p_value", "level", "replicates")}


def _interval(estimate: float, draws: np.ndarray, level: float) -> Interval:
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        nan = float("nan")
        return Interval(float(estimate), nan, nan, nan, nan, level, len(draws))
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    b = len(draws)  # the p-value of B replicates is at least 2 / (B + 1), never 0
    p = min(1.0, 2 * min(((draws <= 0).sum() + 1) / (b + 1), ((draws >= 0).sum() + 1) / (b + 1)))
    return Interval(float(estimate), float(low), float(high), float(draws.std(ddof=1)), float(p), level, b)


def _user_index(users) -> tuple[np.ndarray, int]:
    _, index = np.unique(np.asarray(users).reshape(-1), return_inverse=True)
    return index, int(index.max()) + 1


def _prepare_sides(labels, treatment, control, users) -> tuple[np.ndarray, np.ndarray, int, list]:
    """Labels, each row's user index, the user count, and both sides' units as `RankedScores`."""
    y = _binary(labels)
    index, num_users = _user_index(users)
    if len(index) != len(y):
        raise ValueError(f"{len(index)} user ids for {len(y)} labels.")
    sides = []
    for name, side in (("treatment", treatment), ("control", control)):
        units = [[RankedScores(y, s) for s in models] for models in side.values()]
        if not units or any(not unit for unit in units):
            raise ValueError(f"the {name} needs at least one unit with at least one model.")
        sides.append(units)
    return y, index, num_users, sides


def _user_weights(rng: np.random.Generator, index: np.ndarray, num_users: int) -> np.ndarray:
    """Row weights of one draw of users with replacement: each row counts as often as its user is drawn."""
    return np.bincount(rng.integers(0, num_users, num_users), minlength=num_users)[index].astype(np.float64)


def user_bootstrap_difference(labels, scores_a, scores_b, users, replicates: int = 2000, level: float = 0.95,
                              seed: int = 0) -> Interval:  # fmt: skip
    """AUC(a) − AUC(b) on the same rows, with an interval from resampling users (all rows of a drawn
    user enter as often as the user is drawn), not rows: rows of one user are not independent."""
    return hierarchical_bootstrap_difference(
        labels, {"a": [scores_a]}, {"b": [scores_b]}, users, replicates=replicates, level=level, seed=seed
    )


def hierarchical_bootstrap_difference(
    labels,
    treatment: Mapping[str, Sequence[np.ndarray]],
    control: Mapping[str, Sequence[np.ndarray]],
    users,
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean AUC of the treatment's models minus the control's, with an interval that covers the test
    sample and the training: each replicate draws the users, then for each side its top-level units
    (pretraining runs; a plain model's seeds are each a unit of their own) with replacement, then
    within each drawn unit its finetuning seeds with replacement. ``treatment`` / ``control`` map a
    unit's name to the test scores of its models (one per finetuning seed)."""
    y, index, num_users, sides = _prepare_sides(labels, treatment, control, users)

    def mean_auc(units, weights, rng=None) -> float:
        if rng is None:
            return float(np.mean([np.mean([m.auc(weights) for m in unit]) for unit in units]))
        drawn = [units[i] for i in rng.integers(0, len(units), len(units))]
        return float(np.mean([np.mean([unit[j].auc(weights) for j in rng.integers(0, len(unit), len(unit))])
                              for unit in drawn]))  # fmt: skip

    estimate = mean_auc(sides[0], None) - mean_auc(sides[1], None)
    rng = np.random.default_rng(seed)
    draws = np.empty(replicates)
    for r in range(replicates):
        weights = _user_weights(rng, index, num_users)
        draws[r] = mean_auc(sides[0], weights, rng) - mean_auc(sides[1], weights, rng)
    return _interval(estimate, draws, level)


def unit_t_interval(
    labels,
    treatment: Mapping[str, Sequence[np.ndarray]],
    control: Mapping[str, Sequence[np.ndarray]],
    users,
    replicates: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The same difference as `hierarchical_bootstrap_difference`, with a t interval that stays honest
    with few units (a bootstrap over 3 pretraining runs underestimates their variance by a third and
    cannot reach beyond them): variance = s_T²/n_T + s_C²/n_C over the units' mean AUCs (the training
    side), plus the variance from resampling users with the models fixed (the test sample); t quantile
    with min(n_T, n_C) − 1 degrees of freedom. NaN bounds when a side has a single unit."""
    from scipy import stats

    y, index, num_users, sides = _prepare_sides(labels, treatment, control, users)

    def unit_means(units, weights=None) -> np.ndarray:
        return np.array([np.mean([m.auc(weights) for m in unit]) for unit in units])

    t_means, c_means = unit_means(sides[0]), unit_means(sides[1])
    estimate = float(t_means.mean() - c_means.mean())
    rng = np.random.default_rng(seed)
    draws = np.empty(replicates)
    for r in range(replicates):
        weights = _user_weights(rng, index, num_users)
        draws[r] = unit_means(sides[0], weights).mean() - unit_means(sides[1], weights).mean()
    test_var = float(np.var(draws[np.isfinite(draws)], ddof=1))
    n_t, n_c = len(t_means), len(c_means)
    nan = float("nan")
    if min(n_t, n_c) < 2:
        return Interval(estimate, nan, nan, nan, nan, level, replicates)
    se = math.sqrt(t_means.var(ddof=1) / n_t + c_means.var(ddof=1) / n_c + test_var)
    df = min(n_t, n_c) - 1
    q = float(stats.t.ppf(1 - (1 - level) / 2, df))
    p = float(2 * stats.t.sf(abs(estimate) / se, df)) if se > 0 else (1.0 if estimate == 0 else 0.0)
    return Interval(estimate, estimate - q * se, estimate + q * se, se, p, level, replicates)


__all__ = [
    "DeLongResult",
    "Interval",
    "RankedScores",
    "auc",
    "delong_components",
    "delong_test",
    "group_auc",
    "hierarchical_bootstrap_difference",
    "midranks",
    "unit_t_interval",
    "user_bootstrap_difference",
]
