"""The statistics module against known values: AUC and gAUC against brute force and scikit-learn,
DeLong's fast components against the O(mn) definition, and the bootstraps against cases whose
answer is known (no difference; one row per user, where resampling users is resampling rows and
agrees with DeLong; training spread that must widen the interval)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from flip_hf.analysis.significance import (
    auc,
    delong_components,
    delong_test,
    group_auc,
    hierarchical_bootstrap_difference,
    user_bootstrap_difference,
)


def brute_auc(y, s, w=None):
    w = np.ones(len(y)) if w is None else w
    num = den = 0.0
    for i, j in itertools.product(np.flatnonzero(y == 1), np.flatnonzero(y == 0)):
        num += w[i] * w[j] * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
        den += w[i] * w[j]
    return num / den


def toy(n=60, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = y * 0.7 + rng.normal(size=n)
    return y, (np.round(s, 1) if ties else s)


def test_auc_counts_ties_as_one_half_and_takes_row_weights():
    y, s = toy()
    assert len(np.unique(s)) < len(s)  # there are ties
    assert auc(y, s) == pytest.approx(brute_auc(y, s)) == pytest.approx(roc_auc_score(y, s))
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    assert auc(y, s, w) == pytest.approx(brute_auc(y, s, w))
    assert auc(y, s, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert math.isnan(auc(np.ones(5), np.arange(5.0)))
    with pytest.raises(ValueError, match="0/1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])


def test_group_auc_weights_users_by_rows_and_skips_one_class_users():
    y = np.array([1, 0, 0, 1, 1, 0, 1, 1])
    s = np.array([0.9, 0.1, 0.5, 0.2, 0.3, 0.8, 0.4, 0.6])
    u = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])  # c holds positives only: skipped
    a = brute_auc(y[:3], s[:3])  # 1.0
    b = brute_auc(y[3:6], s[3:6])  # 0.0
    assert group_auc(y, s, u) == pytest.approx((3 * a + 3 * b) / 6)
    assert math.isnan(group_auc(y[6:], s[6:], u[6:]))


def test_delong_components_and_variance_equal_the_definition():
    y, a = toy(80, seed=2)
    b = a + np.random.default_rng(3).normal(scale=0.8, size=len(a))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    def brute(s):
        v10 = np.array([np.mean([psi(s[i], s[j]) for j in neg]) for i in pos])
        v01 = np.array([np.mean([psi(s[i], s[j]) for i in pos]) for j in neg])
        return v10, v01

    for s in (a, b):
        value, v10, v01 = delong_components(y, s)
        ref10, ref01 = brute(s)
        np.testing.assert_allclose(v10, ref10)
        np.testing.assert_allclose(v01, ref01)
        assert value == pytest.approx(brute_auc(y, s))
    (a10, a01), (b10, b01) = brute(a), brute(b)
    d10, d01 = a10 - b10, a01 - b01
    var = d10.var(ddof=1) / len(pos) + d01.var(ddof=1) / len(neg)  # var of AUC(a) - AUC(b)
    result = delong_test(y, a, b)
    assert result.se == pytest.approx(math.sqrt(var))
    assert result.difference == pytest.approx(brute_auc(y, a) - brute_auc(y, b))
    assert result.p_value == pytest.approx(math.erfc(abs(result.difference / result.se) / math.sqrt(2)))
    same = delong_test(y, a, a)
    assert same.difference == 0 and same.p_value == 1.0


def test_a_user_bootstrap_of_identical_models_is_exactly_zero():
    y, s = toy(200, seed=4)
    users = np.arange(200) % 17
    interval = user_bootstrap_difference(y, s, s.copy(), users, replicates=200)
    assert (interval.estimate, interval.low, interval.high, interval.se) == (0.0, 0.0, 0.0, 0.0)
    assert not interval.excludes_zero


def test_with_one_row_per_user_the_user_bootstrap_agrees_with_delong():
    rng = np.random.default_rng(5)
    n = 3000
    y = rng.integers(0, 2, n)
    a = y * 0.9 + rng.normal(size=n)
    b = y * 0.7 + rng.normal(size=n) * 0.5 + 0.5 * a
    interval = user_bootstrap_difference(y, a, b, np.arange(n), replicates=600, seed=1)
    dl = delong_test(y, a, b)
    assert interval.estimate == pytest.approx(dl.difference)
    assert interval.se == pytest.approx(dl.se, rel=0.12)
    assert interval.excludes_zero and interval.low < dl.difference < interval.high


def test_clustered_users_widen_the_interval():
    """Rows of a user share the user's noise: resampling users, not rows, must say so."""
    rng = np.random.default_rng(6)
    users = np.repeat(np.arange(40), 50)
    y = rng.integers(0, 2, len(users))
    a = y + rng.normal(size=len(y))
    b = a + rng.normal(size=40)[users] * (y - 0.5) * 2  # a user-level effect on b's ranking
    clustered = user_bootstrap_difference(y, a, b, users, replicates=300)
    rows = user_bootstrap_difference(y, a, b, np.arange(len(y)), replicates=300)
    assert clustered.se > 2 * rows.se


def test_the_hierarchical_bootstrap_covers_the_spread_between_pretraining_runs():
    rng = np.random.default_rng(7)
    n = 1500
    users = rng.integers(0, 150, n)
    y = rng.integers(0, 2, n)
    base = y * 0.8 + rng.normal(size=n)
    control = {f"seed{i}": [base + rng.normal(scale=0.2, size=n)] for i in range(5)}
    # three pretraining runs that differ a lot, three finetuning seeds each, close to their run
    runs = {}
    for r, noise in enumerate((0.1, 0.8, 1.6)):  # each run its own quality (its own noise) ...
        run_noise = rng.normal(scale=noise, size=n)  # ... its seeds close to it
        runs[f"run{r}"] = [base + run_noise + rng.normal(scale=0.05, size=n) for _ in range(3)]
    spread = hierarchical_bootstrap_difference(y, runs, control, users, replicates=300)
    pooled = hierarchical_bootstrap_difference(
        y, {"one run": [m for models in runs.values() for m in models]}, control, users, replicates=300
    )
    assert spread.estimate == pytest.approx(pooled.estimate)  # the same nine models
    # three runs, not nine seeds, are what varies: ~sqrt(3) wider (1.5-1.6 measured over data seeds)
    assert spread.se > 1.3 * pooled.se
    one = hierarchical_bootstrap_difference(
        y, {"r": [runs["run1"][0]]}, {"c": [control["seed0"][0]]}, users, 200, seed=3
    )
    same = user_bootstrap_difference(y, runs["run1"][0], control["seed0"][0], users, 200, seed=3)
    assert one == same  # one model a side: only the users vary
    with pytest.raises(ValueError, match="at least one"):
        hierarchical_bootstrap_difference(y, {"r": []}, control, users)


def test_the_unit_t_interval_adds_the_spread_of_run_means_to_the_test_sample_variance():
    from scipy import stats

    from flip_hf.analysis.significance import unit_t_interval

    rng = np.random.default_rng(8)
    n = 1200
    users = rng.integers(0, 120, n)
    y = rng.integers(0, 2, n)
    base = y * 0.8 + rng.normal(size=n)
    runs = {f"run{r}": [base + rng.normal(scale=noise, size=n)] for r, noise in enumerate((0.2, 0.9, 1.5))}
    control = {f"seed{i}": [base + rng.normal(scale=0.5, size=n)] for i in range(4)}
    t_aucs = np.array([auc(y, m[0]) for m in runs.values()])
    c_aucs = np.array([auc(y, m[0]) for m in control.values()])
    interval = unit_t_interval(y, runs, control, users, replicates=200)
    assert interval.estimate == pytest.approx(t_aucs.mean() - c_aucs.mean())
    between = t_aucs.var(ddof=1) / 3 + c_aucs.var(ddof=1) / 4
    assert interval.se**2 > between  # plus the test sample's share
    q = stats.t.ppf(0.975, 2)  # min(3, 4) - 1 degrees of freedom
    assert interval.high - interval.estimate == pytest.approx(q * interval.se)
    # three runs that disagree this much: the bootstrap over them is narrower than the t interval
    boot = hierarchical_bootstrap_difference(y, runs, control, users, replicates=200)
    assert interval.high - interval.low > boot.high - boot.low
    one = unit_t_interval(y, {"r": runs["run0"]}, control, users, replicates=50)
    assert math.isnan(one.low) and not one.excludes_zero


def test_degenerate_inputs_give_nan_not_false_certainty():
    y = np.array([1, 0, 0, 0])
    result = delong_test(y, np.array([0.9, 0.1, 0.2, 0.3]), np.array([0.5, 0.4, 0.1, 0.2]))
    assert math.isnan(result.p_value) and math.isnan(result.se)  # one positive: no variance estimate
    y, s = toy(100, seed=9)
    interval = user_bootstrap_difference(y, s, s + np.random.default_rng(0).normal(size=100), np.arange(100), 30)
    assert interval.p_value >= 2 / 31  # never 0 from B replicates
