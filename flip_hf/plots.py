"""PNG figures of the analyses (matplotlib, imported lazily, no display needed): singular-value
spectra (paper Fig. 2/8), the field-correspondence heat map (Fig. 9), hyperparameter sweeps (Fig. 6/7)
and training-loss curves."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np


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


__all__ = ["loss_curves_from_log", "plot_heatmap", "plot_loss_curves", "plot_spectra", "plot_sweep"]
