"""Results files of a table run: per-row mean and spread over seeds, paired differences against the
row's plain ID model, the paper's numbers beside ours, pretraining facts, and a bar chart (PNG)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

from ..analysis.plots import plot_auc, plot_sweep
from .definitions import SWEEPS, TABLE_TITLES, TABLES, Row
from .profiles import Profile


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample sd of a row's per-seed values (sd 0 for a single seed)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _baseline_of(row: Row, rows: list[Row]) -> Row | None:
    """The plain ID model of the same ID model in the table (the paired comparison of an ID row)."""
    if row.mode != "id" or row.preset is None:
        return None
    return next((r for r in rows if r.mode == "id" and r.preset is None and r.id_model == row.id_model), None)


def summarise(table: str, results: list[dict]) -> list[dict[str, Any]]:
    """One entry per row (in table order) with means, spreads, selections and paired differences."""
    rows = [r for r in TABLES[table] if any(x["row"] == r.name for x in results)]
    by_row = {r.name: sorted((x for x in results if x["row"] == r.name), key=lambda x: x.get("seed", 0)) for r in rows}
    out = []
    for row in rows:
        runs = by_row[row.name]
        if any("skipped" in x for x in runs):
            out.append({"row": row.name, "mode": row.mode, "skipped": runs[0]["skipped"], "seeds": [],
                        "paper_auc": row.paper[0] if row.paper else None,
                        "paper_logloss": row.paper[1] if row.paper else None})  # fmt: skip
            continue
        auc, auc_sd = mean_sd([x["auc"] for x in runs])
        logloss, logloss_sd = mean_sd([x["logloss"] for x in runs])
        entry = {
            "row": row.name,
            "mode": row.mode,
            "preset": row.preset,
            "id_model": row.id_model,
            "seeds": [x["seed"] for x in runs],
            "auc": auc,
            "auc_sd": auc_sd,
            "logloss": logloss,
            "logloss_sd": logloss_sd,
            "validation_auc": statistics.fmean(x["validation_auc"] for x in runs),
            "learning_rates": [x["learning_rate"] for x in runs],
            "learning_rate_choices": [_lr_choice(x) for x in runs],
            "best_epochs": [x["best_epoch"] for x in runs],
            "wall_time_s": sum(x["wall_time_s"] for x in runs),
            "paper_auc": row.paper[0] if row.paper else None,
            "paper_logloss": row.paper[1] if row.paper else None,
        }
        for part in ("id_auc", "plm_auc", "alpha"):  # a joint model's own halves and fusion weight (Eq. 15)
            for prefix in ("", "validation_"):
                if all(prefix + part in x for x in runs):
                    entry[prefix + part] = statistics.fmean(x[prefix + part] for x in runs)
        base = _baseline_of(row, rows)
        if base is not None:
            pairs = {x["seed"]: x for x in by_row[base.name]}
            diffs = [x["auc"] - pairs[x["seed"]]["auc"] for x in runs if x["seed"] in pairs]
            if diffs:
                mean, sd = mean_sd(diffs)
                entry["paired_auc_difference"] = {"against": base.name, "mean": mean, "sd": sd, "per_seed": diffs}
        out.append(entry)
    return out


def _lr_choice(run: dict) -> str:
    """How a run's learning rate came about: chosen over its grid, fixed, reused from another seed's
    search, or taken from another row (a budget control); the text encoder's own rate after a slash."""
    lr = f"{run['learning_rate']:g}"
    if run.get("budget_of"):
        how = f"{run['budget_of']['row']}'s, {run['budget_of']['epochs']:g} epochs"
    elif run.get("learning_rate_searched_on_seed") is not None:
        how = f"seed {run['learning_rate_searched_on_seed']}'s"
    else:
        grid = run.get("searched_learning_rates") or [g["learning_rate"] for g in run.get("grid", [])]
        how = "of " + "/".join(f"{g:g}" for g in grid) if len(grid) > 1 else "fixed"
    text = f" / text {run['text_learning_rate']:g}" if run.get("text_learning_rate") else ""
    return f"{lr}{text} ({how})"


def _commit() -> str:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _fmt(value: float | None, sd: float | None = None, n: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:.4f} ± {sd:.4f}" if sd is not None and n > 1 else f"{value:.4f}"


def render_markdown(table: str, profile: Profile, summary: list[dict], meta: dict[str, Any]) -> str:
    lines = [
        f"# {TABLE_TITLES.get(table, table)} — {profile.dataset}, profile `{profile.name}`",
        "",
        f"Command: `{meta['command']}`  ",
        f"Commit: {meta['commit']}; device: {meta['device']}; wall time {meta['wall_time_s'] / 60:.1f} min.",
        "",
        f"Profile: {profile.notes}",
        "",
        "Selection: every row's learning rate (and, by early stopping, its epoch) is chosen on the validation "
        "split; the test split is read once per row and seed, at the end. "
        + (
            "Refit: each row's chosen recipe (learning rate, epoch count, and its pretraining) is trained again "
            "on the whole train split, validation included, and the test numbers are that model's; the "
            "validation AUC is the selection's. "
            if profile.refit
            else ""
        )
        + "Paper numbers are MovieLens-1M "
        f"(the paper has no {profile.dataset} column){'' if profile.dataset != 'movielens-1m' else ' and comparable'}.",
        "",
        "| row | test AUC | test Logloss | validation AUC | seeds | selected lr | best epoch | paper AUC | "
        "paper Logloss | time (min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary:
        n = len(e["seeds"])
        if "skipped" in e:
            lines.append(f"| {e['row']} | {e['skipped']} | | | | | | {_fmt(e['paper_auc'])} | "
                         f"{_fmt(e['paper_logloss'])} | |")  # fmt: skip
            continue
        lines.append(
            f"| {e['row']} | {_fmt(e['auc'], e['auc_sd'], n)} | {_fmt(e['logloss'], e['logloss_sd'], n)} | "
            f"{e['validation_auc']:.4f} | {n} | {'; '.join(dict.fromkeys(e['learning_rate_choices']))} | "
            f"{', '.join('–' if b is None else f'{b:g}' for b in e['best_epochs'])} | {_fmt(e['paper_auc'])} | "
            f"{_fmt(e['paper_logloss'])} | {e['wall_time_s'] / 60:.1f} |"
        )
    joint = [e for e in summary if "alpha" in e]
    if joint:
        lines += ["", "Joint rows, their own halves (Eq. 15: logit = α·ID + (1 − α)·text), mean over seeds:", ""]
        lines += ["| row | α | ID-half AUC test / validation | text-half AUC test / validation |", "|---|---|---|---|"]
        for e in joint:
            val = {k: e.get(f"validation_{k}", float("nan")) for k in ("id_auc", "plm_auc")}
            lines.append(
                f"| {e['row']} | {e['alpha']:.3f} | {e['id_auc']:.4f} / {val['id_auc']:.4f} | "
                f"{e['plm_auc']:.4f} / {val['plm_auc']:.4f} |"
            )
    paired = [e for e in summary if "paired_auc_difference" in e]
    if paired:
        lines += ["", "Paired test-AUC differences (same finetuning seed), mean ± sd over seeds:", ""]
        for e in paired:
            d = e["paired_auc_difference"]
            per_seed = ", ".join(f"{x:+.4f}" for x in d["per_seed"])
            lines.append(f"- {e['row']} − {d['against']}: {d['mean']:+.4f} ± {d['sd']:.4f} (per seed: {per_seed})")
    if meta.get("pretraining"):
        lines += ["", "Pretraining runs:", "", "| run | preset | overrides | steps | time (min) | final losses |"]
        lines.append("|---|---|---|---|---|---|")
        for name, p in meta["pretraining"].items():
            losses = ", ".join(f"{k} {v:.3f}" for k, v in (p.get("final_losses") or {}).items())
            lines.append(
                f"| {name} | {p.get('preset')} | {json.dumps(p.get('config_overrides') or {})} | "
                f"{p.get('global_step')} | {(p.get('train_time_s') or 0) / 60:.1f} | {losses} |"
            )
    return "\n".join(lines) + "\n"


def write_report(
    table: str, profile: Profile, results: list[dict], results_dir: str | os.PathLike, device: str, meta: dict
) -> dict[str, str]:
    """``table{N}_<dataset>_<profile>[_refit]_<device>.{md,json,png}`` in ``results_dir``; returns the paths."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / f"table{table}_{profile.dataset}_{profile.name}{'_refit' if profile.refit else ''}_{device}"
    summary = summarise(table, results)
    meta = {"commit": _commit(), "device": device, **meta}
    with open(f"{stem}.json", "w", encoding="utf-8") as fh:
        payload = {"table": table, "profile": profile.name, "dataset": profile.dataset, "device": device, **meta}
        json.dump({**payload, "summary": summary, "runs": results}, fh, indent=2, default=str)
    with open(f"{stem}.md", "w", encoding="utf-8") as fh:
        fh.write(render_markdown(table, profile, summary, meta))
    refit = " (refit)" if profile.refit else ""
    title = f"{TABLE_TITLES.get(table, table)}\n{profile.dataset}, profile {profile.name}{refit}, {device}"
    png = plot_auc(summary, f"{stem}.png", title, paper_data=profile.dataset == "movielens-1m")
    paths = {"md": f"{stem}.md", "json": f"{stem}.json", "png": png}
    if table in SWEEPS:  # AUC against the swept value (paper Fig. 6/7)
        fields, values = SWEEPS[table]
        value_of = {r.name: v for r, v in zip(TABLES[table], values)}
        done = [(value_of[e["row"]], e["auc"]) for e in summary if "auc" in e]
        paths["sweep"] = plot_sweep(
            [v for v, _ in done], [a for _, a in done], f"{stem}_sweep.png", " = ".join(fields), title
        )
    return paths


__all__ = ["mean_sd", "render_markdown", "summarise", "write_report"]
