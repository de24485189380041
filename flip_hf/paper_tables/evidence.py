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
from ..analysis.significance import delong_test, group_auc, hierarchical_bootstrap_difference
from ..data import field_sides
from ..data.cache import flip_hf_cache_root
from ..training.logs import setup_logging
from ..training.pipelines import load_data
from .profiles import PROFILES, Profile
from .report import _commit
from .runner import data_arguments, run_table


@dataclass(frozen=True)
class Comparison:
    """Treatment rows (replicates of one method, e.g. FLIP_ID over several pretraining runs) against a
    control row (e.g. DCNv2, each of its seeds a unit)."""

    name: str
    treatment: tuple[str, ...]
    control: str


COMPARISONS: dict[str, list[Comparison]] = {
    "evidence": [
        Comparison(
            "FLIP_ID − DCNv2",
            ("FLIP_ID", "FLIP_ID (pretraining seed 43)", "FLIP_ID (pretraining seed 44)"),
            "DCNv2",
        ),
        Comparison("FLIP_ID − DCNv2 at FLIP_ID's budget", ("FLIP_ID",), "DCNv2 (FLIP_ID's budget)"),
        Comparison("DCNv2 at FLIP_ID's budget − DCNv2", ("DCNv2 (FLIP_ID's budget)",), "DCNv2"),
        Comparison("CTRL − DCNv2", ("CTRL",), "DCNv2"),
    ],
}
"""The comparisons each table's evidence report makes."""


def _unit(result: dict) -> str:
    """A run's unit of replication: its pretraining run, or (no pretraining) its own seed."""
    return result["pretrain"]["folder"] if result.get("pretrain") else f"seed {result['seed']}"


def load_predictions(results: list[dict], work_dir: str | os.PathLike) -> dict[tuple[str, int], np.ndarray]:
    """Each finished run's saved test probabilities, keyed by (row, seed)."""
    out = {}
    for r in results:
        if "predictions" in r:
            with np.load(Path(work_dir) / r["predictions"]) as saved:
                out[r["row"], r["seed"]] = saved["probabilities"].astype(np.float64)
    return out


def evidence_report(table: str, results: list[dict], work_dir: str | os.PathLike, labels: np.ndarray,
                    users: np.ndarray, replicates: int = 2000, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Per-row AUC / gAUC (means over seeds) and every `COMPARISONS` entry whose rows have finished:
    the hierarchical bootstrap interval (users, then units, then seeds) of the mean-AUC difference,
    the same for gAUC as a point value, and DeLong's test for each same-seed pair."""
    preds = load_predictions(results, work_dir)
    labels = np.asarray(labels)
    for key, p in preds.items():
        if len(p) != len(labels):
            raise ValueError(f"{key}: {len(p)} predictions for a test split of {len(labels)} rows.")
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
        treated = [r for name in comp.treatment for r in by_row.get(name, [])]
        controls = by_row.get(comp.control, [])
        if not treated or not controls:
            continue
        units: dict[str, list[np.ndarray]] = {}
        for r in treated:
            units.setdefault(_unit(r), []).append(preds[r["row"], r["seed"]])
        control_units = {f"seed {r['seed']}": [preds[comp.control, r["seed"]]] for r in controls}
        interval = hierarchical_bootstrap_difference(labels, units, control_units, users, replicates, seed=seed)
        control_gauc = statistics.fmean(gauc[comp.control, r["seed"]] for r in controls)
        treated_gauc = statistics.fmean(
            statistics.fmean(gauc[r["row"], r["seed"]] for r in treated if _unit(r) == u) for u in units
        )
        pairs = []
        for r in treated:
            if (comp.control, r["seed"]) in preds:
                d = delong_test(labels, preds[r["row"], r["seed"]], preds[comp.control, r["seed"]])
                pairs.append({"row": r["row"], "seed": r["seed"], "difference": d.difference, "se": d.se,
                              "p_value": d.p_value})  # fmt: skip
        comparisons.append(
            {
                "name": comp.name,
                "treatment_rows": [n for n in comp.treatment if n in by_row],
                "control": comp.control,
                "treatment_units": {u: len(m) for u, m in units.items()},
                "control_seeds": len(controls),
                "auc_difference": interval.as_dict(),
                "excludes_zero": interval.excludes_zero,
                "gauc_difference": treated_gauc - control_gauc,
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
    lines += ["", "| comparison | AUC difference | 95% CI | p (bootstrap) | gAUC difference | units | reading |"]
    lines.append("|---|---|---|---|---|---|---|")
    for c in report["comparisons"]:
        d = c["auc_difference"]
        reading = "CI excludes zero" if c["excludes_zero"] else "no detectable effect"
        lines.append(
            f"| {c['name']} | {d['estimate']:+.4f} | [{d['low']:+.4f}, {d['high']:+.4f}] | {d['p_value']:.3f} | "
            f"{c['gauc_difference']:+.4f} | {len(c['treatment_units'])} vs {c['control_seeds']} | {reading} |"
        )
    for c in report["comparisons"]:
        if c["delong_same_seed"]:
            pairs = "; ".join(f"{p['row']} seed {p['seed']}: {p['difference']:+.4f} (p {p['p_value']:.3g})"
                              for p in c["delong_same_seed"])  # fmt: skip
            lines += ["", f"DeLong, {c['name']}, same finetuning seed (test sample only, training fixed): {pairs}"]
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
