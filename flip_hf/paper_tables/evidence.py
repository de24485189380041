"""The claim's statistics from a table's saved test predictions: per-row AUC and gAUC, and the paired
differences between row groups with intervals whose unit is what varies (`flip_hf.significance`):
test users, pretraining runs (all the finetuning seeds on one pretraining are one unit), seeds."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.plots import plot_differences
from ..analysis.significance import delong_test, group_auc, hierarchical_bootstrap_difference, unit_t_interval
from ..data import field_sides
from ..data.cache import flip_hf_cache_root
from ..training.logs import setup_logging
from ..training.pipelines import load_data
from .profiles import PROFILES, Profile
from .report import _commit
from .runner import data_arguments, run_table


@dataclass(frozen=True)
class Comparison:
    """Treatment rows (replicates of one method, e.g. FLIP_ID over several pretraining runs) against
    control rows (e.g. DCNv2, each of its seeds a unit)."""

    name: str
    treatment: tuple[str, ...]
    control: tuple[str, ...]


FLIP_ID_RUNS = ("FLIP_ID", "FLIP_ID (pretraining seed 43)", "FLIP_ID (pretraining seed 44)")
BUDGET_CONTROLS = ("DCNv2 (FLIP_ID's budget)", "DCNv2 (FLIP_ID seed 43's budget)", "DCNv2 (FLIP_ID seed 44's budget)")

COMPARISONS: dict[str, list[Comparison]] = {
    "evidence": [
        Comparison("FLIP_ID − DCNv2", FLIP_ID_RUNS, ("DCNv2",)),
        Comparison("FLIP_ID − DCNv2 at FLIP_ID's budget", FLIP_ID_RUNS, BUDGET_CONTROLS),
        Comparison("DCNv2 at FLIP_ID's budget − DCNv2", BUDGET_CONTROLS, ("DCNv2",)),
        Comparison("CTRL − DCNv2", ("CTRL",), ("DCNv2",)),
    ],
}
"""The comparisons each table's evidence report makes."""


def _unit(result: dict) -> str:
    """A run's unit of replication: its pretraining run, or (no pretraining) its own seed."""
    return result["pretrain"]["folder"] if result.get("pretrain") else f"{result['row']}, seed {result['seed']}"


def load_predictions(results: list[dict], work_dir: str | os.PathLike,
                     labels: np.ndarray) -> dict[tuple[str, int], np.ndarray]:  # fmt: skip
    """Each finished run's saved test probabilities, keyed by (row, seed); ValueError when a file's
    labels are not ``labels`` (another split, or rows in another order)."""
    out = {}
    for r in results:
        if "predictions" in r:
            with np.load(Path(work_dir) / r["predictions"]) as saved:
                if saved["labels"].shape != labels.shape or not np.array_equal(saved["labels"], labels):
                    raise ValueError(f"{r['predictions']}: its labels are not the test split's, row for row.")
                out[r["row"], r["seed"]] = saved["probabilities"].astype(np.float64)
    return out


def evidence_report(table: str, results: list[dict], work_dir: str | os.PathLike, labels: np.ndarray,
                    users: np.ndarray, replicates: int = 2000, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Per-row AUC / gAUC (means over seeds) and every `COMPARISONS` entry whose rows have finished:
    the hierarchical bootstrap interval (users, then units, then seeds) of the mean-AUC difference,
    the same for gAUC as a point value, and DeLong's test for each same-seed pair."""
    labels = np.asarray(labels)
    preds = load_predictions(results, work_dir, labels)
    by_row: dict[str, list[dict]] = {}
    for r in results:
        if (r.get("row"), r.get("seed")) in preds:
            by_row.setdefault(r["row"], []).append(r)
    gauc = {key: group_auc(labels, p, users) for key, p in preds.items()}
    rows = {
        name: {
            "seeds": [r["seed"] for r in runs],
            "units": sorted({_unit(r) for r in runs}),
            "auc": statistics.fmean(r["auc"] for r in runs),
            "gauc": statistics.fmean(gauc[name, r["seed"]] for r in runs),
            "per_seed_auc": [r["auc"] for r in runs],
        }
        for name, runs in by_row.items()
    }
    comparisons = []
    for comp in COMPARISONS.get(table, []):
        sides = [[r for name in names for r in by_row.get(name, [])] for names in (comp.treatment, comp.control)]
        if not all(sides):
            continue
        units = [{}, {}]
        for side, runs in zip(units, sides):
            for r in runs:
                side.setdefault(_unit(r), []).append(r)
        scores = [{u: [preds[r["row"], r["seed"]] for r in runs] for u, runs in side.items()} for side in units]
        boot = hierarchical_bootstrap_difference(labels, *scores, users, replicates, seed=seed)
        t_interval = unit_t_interval(labels, *scores, users, replicates, seed=seed)
        side_gauc = [
            statistics.fmean(statistics.fmean(gauc[r["row"], r["seed"]] for r in runs) for runs in side.values())
            for side in units
        ]
        pairs = []  # DeLong per same-seed pair of a treatment row and the first control row
        for r in sides[0]:
            other = (comp.control[0], r["seed"])
            if other in preds:
                d = delong_test(labels, preds[r["row"], r["seed"]], preds[other])
                pairs.append({"row": r["row"], "against": other[0], "seed": r["seed"], "difference": d.difference,
                              "se": d.se, "p_value": d.p_value})  # fmt: skip
        comparisons.append(
            {
                "name": comp.name,
                "treatment_rows": [n for n in comp.treatment if n in by_row],
                "control_rows": [n for n in comp.control if n in by_row],
                "treatment_units": {u: len(runs) for u, runs in units[0].items()},
                "control_units": {u: len(runs) for u, runs in units[1].items()},
                "auc_difference": boot.as_dict(),
                "auc_difference_t": t_interval.as_dict(),
                # the claim's reading: the t interval over units where both sides have several units; with a
                # single pretraining run on a side, only the bootstrap, conditional on that run
                "excludes_zero": t_interval.excludes_zero if np.isfinite(t_interval.low) else boot.excludes_zero,
                "conditional_on_one_run": not np.isfinite(t_interval.low),
                "gauc_difference": side_gauc[0] - side_gauc[1],
                "delong_same_seed": pairs,
            }
        )
    return {"rows": rows, "comparisons": comparisons, "test_rows": len(labels), "test_users": len(np.unique(users))}


def render_evidence_markdown(report: dict[str, Any], title: str, meta: dict[str, Any]) -> str:
    """The report as Markdown: rows, then each comparison's interval and what it allows one to say."""
    lines = [
        f"# {title}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Commit: {meta['commit']}; device: {meta['device']}.",
        "",
    ]
    lines += [
        f"Test split: {report['test_rows']:,} rows from {report['test_users']:,} users. Intervals: 95% hierarchical "
        f"bootstrap ({meta['replicates']} replicates): users of the test split, then each side's units (a "
        "pretraining run with all its finetuning seeds is one unit; a plain model's seed is one unit), then "
        "the seeds within a unit. gAUC: per-user AUC weighted by the user's rows, one-class users skipped.",
        "",
        "| row | test AUC (mean) | test gAUC (mean) | seeds | units |",
        "|---|---|---|---|---|",
    ]
    for name, r in report["rows"].items():
        lines.append(f"| {name} | {r['auc']:.4f} | {r['gauc']:.4f} | {len(r['seeds'])} | {len(r['units'])} |")
    lines += [
        "",
        "| comparison | AUC difference | 95% CI, t over units | 95% CI, hierarchical bootstrap | p (t; bootstrap) | "
        "gAUC difference | units | reading |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in report["comparisons"]:
        d, t = c["auc_difference"], c["auc_difference_t"]
        reading = "CI excludes zero" if c["excludes_zero"] else "no detectable effect"
        if c["conditional_on_one_run"]:
            reading += " (conditional on one pretraining run: its spread is not in the interval)"
        t_ci = "n/a (one unit)" if c["conditional_on_one_run"] else f"[{t['low']:+.4f}, {t['high']:+.4f}]"
        t_p = "–" if c["conditional_on_one_run"] else f"{t['p_value']:.3g}"
        lines.append(
            f"| {c['name']} | {d['estimate']:+.4f} | {t_ci} | [{d['low']:+.4f}, {d['high']:+.4f}] | {t_p}; "
            f"{d['p_value']:.3g} | {c['gauc_difference']:+.4f} | {len(c['treatment_units'])} vs "
            f"{len(c['control_units'])} | {reading} |"
        )
    for c in report["comparisons"]:
        if c["delong_same_seed"]:
            pairs = "; ".join(f"{p['row']} seed {p['seed']}: {p['difference']:+.4f} (p {p['p_value']:.3g})"
                              for p in c["delong_same_seed"])  # fmt: skip
            lines += ["", f"DeLong, {c['name']}, same finetuning seed (test sample only, training fixed): {pairs}"]
    lines += [
        "",
        "The reading follows the t interval over units (the units' mean AUCs, s²/n per side, plus the test "
        "sample's variance from resampling users; min(units) − 1 degrees of freedom): a bootstrap over three "
        "pretraining runs understates their variance and cannot reach beyond them.",
    ]
    return "\n".join(lines) + "\n"


def write_evidence(report: dict[str, Any], stem: str | os.PathLike, title: str, meta: dict[str, Any]) -> dict[str, str]:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png``; returns their paths."""
    stem = str(stem)
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{stem}.json", "w", encoding="utf-8") as fh:
        json.dump({**meta, **report}, fh, indent=2, default=float)
    with open(f"{stem}.md", "w", encoding="utf-8") as fh:
        fh.write(render_evidence_markdown(report, title, meta))
    paths = {"json": f"{stem}.json", "md": f"{stem}.md"}
    if report["comparisons"]:
        paths["png"] = plot_differences(report, f"{stem}.png", title)
    return paths


def test_users_and_labels(profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The test split's labels and user ids (the first user field), in the order predictions are saved."""
    test = load_data(data_arguments(profile))["test"]
    user_field = profile.user_fields[0] if profile.user_fields else field_sides(profile.dataset)[0][0]
    return np.asarray(test["label"]), np.asarray(test[user_field]).astype(str)


def main(argv: list[str] | None = None) -> dict[str, str]:
    """The evidence report of a table's finished runs (it trains nothing): ``evidence_<table>_...``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--table", default="evidence", choices=sorted(COMPARISONS))
    parser.add_argument("--profile", default="ml1m_cpu", choices=sorted(PROFILES))
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--work_dir", default=None, help="The tables runner's (default: <flip_hf cache>/paper_tables).")
    parser.add_argument("--results_dir", default="benchmarks/results")
    parser.add_argument("--replicates", type=int, default=2000)
    args = parser.parse_args(argv)
    setup_logging()
    profile = PROFILES[args.profile]
    if args.data_dir:
        profile = profile.replace(data_dir=args.data_dir)
    work_dir = Path(args.work_dir) if args.work_dir else flip_hf_cache_root() / "paper_tables"
    results = run_table(args.table, profile, work_dir, train=False)
    labels, users = test_users_and_labels(profile)
    report = evidence_report(args.table, results, work_dir, labels, users, args.replicates)
    meta = {
        "command": "python benchmarks/evidence_report.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "commit": _commit(),
        "device": "cpu",
        "replicates": args.replicates,
        "profile": profile.name,
        "dataset": profile.dataset,
    }
    title = f"Evidence, table {args.table}: {profile.dataset}, profile {profile.name}"
    paths = write_evidence(report, Path(args.results_dir) / f"evidence_{args.table}_{profile.dataset}_{profile.name}",
                           title, meta)  # fmt: skip
    print(render_evidence_markdown(report, title, meta), flush=True)
    return paths


__all__ = [
    "COMPARISONS",
    "Comparison",
    "evidence_report",
    "load_predictions",
    "main",
    "test_users_and_labels",
    "write_evidence",
]
