"""PNG figures of the analyses (matplotlib, imported lazily, no display needed): singular-value
spectra (paper Fig. 2/8), the field-correspondence heat map (Fig. 9), hyperparameter sweeps (Fig. 6/7)
training-loss curves, the tables' AUC bars and the evidence's paired differences."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def file_slug(name: str) -> str:
    """A figure's file-name form of a label: lower case, runs of other characters as one ``_``."""
    return "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "figure"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return str(path)


def plot_spectra(spectra: Mapping[str, np.ndarray], path: str | os.PathLike, title: str = "") -> str:
    """Normalised singular values, sorted, on a log scale: one line per name."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=110)
    for name, s in spectra.items():
        s = np.asarray(s, dtype=float)
        ax.plot(np.arange(1, len(s) + 1), np.clip(s, 1e-8, None), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("singular value index")
    ax.set_ylabel("normalised singular value")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_heatmap(matrix: np.ndarray, labels: Sequence[str], path: str | os.PathLike, title: str = "") -> str:
    """An F x F similarity matrix; rows: text view with field i masked, columns: tabular view with field j masked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=110)
    im = ax.imshow(matrix, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("tabular view, field masked")
    ax.set_ylabel("text view, field masked")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_sweep(
    values: Sequence[float], aucs: Sequence[float], path: str | os.PathLike, xlabel: str, title: str = ""
) -> str:
    """Test AUC against a hyperparameter's value (Fig. 6/7)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.4), dpi=110)
    ax.plot(list(values), list(aucs), marker="o")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test AUC")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_auc(summary: list[dict], path: str | os.PathLike, title: str, paper_data: bool) -> str:
    """A bar chart of test AUC per row: error bars (sd over seeds) only on rows with several seeds;
    the paper's AUC as diamonds only when the run is on the paper's data (``paper_data``)."""
    plt = _pyplot()
    summary = [e for e in summary if "skipped" not in e]
    names = [e["row"] for e in summary]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(names) + 1.5), 3.8), dpi=110)
    xs = range(len(names))
    ax.bar(xs, [e["auc"] for e in summary], color="#4C72B0")
    seeded = [(i, e) for i, e in enumerate(summary) if len(e["seeds"]) > 1]
    if seeded:
        ax.errorbar([i for i, _ in seeded], [e["auc"] for _, e in seeded], yerr=[e["auc_sd"] for _, e in seeded],
                    fmt="none", ecolor="black", capsize=3, label="sd over seeds")  # fmt: skip
    paper = [(i, e["paper_auc"]) for i, e in enumerate(summary) if paper_data and e["paper_auc"] is not None]
    if paper:
        ax.scatter([i for i, _ in paper], [v for _, v in paper], marker="D", color="#DD8452", zorder=3,
                   label="paper (MovieLens-1M)")  # fmt: skip
    if paper or seeded:
        ax.legend(loc="lower right", fontsize=8)
    values = [e["auc"] for e in summary] + [v for _, v in paper]
    low, high = min(values), max(values)
    ax.set_ylim(low - 0.15 * (high - low + 0.01), high + 0.15 * (high - low + 0.01))
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("test AUC")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_differences(report: dict[str, Any], path: str | os.PathLike, title: str) -> str:
    """The paired differences with their 95% intervals (the figure that carries the claim)."""
    plt = _pyplot()
    comps = report["comparisons"]
    fig, ax = plt.subplots(figsize=(7.0, 0.6 * len(comps) + 1.6), dpi=110)
    for i, c in enumerate(comps):
        d = c["auc_difference"]
        ax.errorbar(d["estimate"], i, xerr=[[d["estimate"] - d["low"]], [d["high"] - d["estimate"]]], fmt="o",
                    color="#4C72B0" if c["excludes_zero"] else "#8C8C8C", capsize=4)  # fmt: skip
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_yticks(range(len(comps)))
    ax.set_yticklabels([c["name"] for c in comps], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test AUC difference (95% hierarchical bootstrap CI)")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_loss_curves(
    curves: Mapping[str, Sequence[tuple[float, float]]], path: str | os.PathLike, title: str = ""
) -> str:
    """Loss against training step, one line per loss name (``(step, value)`` pairs)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=110)
    for name, points in curves.items():
        if points:
            steps, losses = zip(*points)
            ax.plot(steps, losses, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def loss_curves_from_log(log_history: Sequence[Mapping], names: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """``(step, value)`` pairs of each loss name in a Trainer's ``log_history``."""
    return {name: [(h["step"], h[name]) for h in log_history if name in h and "step" in h] for name in names}


__all__ = [
    "file_slug",
    "loss_curves_from_log",
    "plot_auc",
    "plot_differences",
    "plot_heatmap",
    "plot_loss_curves",
    "plot_spectra",
    "plot_sweep",
]
