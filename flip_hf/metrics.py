"""CTR metrics: AUC and Logloss, for `Trainer(compute_metrics=...)` and plain arrays."""

from __future__ import annotations

import os

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

CTR_METRIC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctr_metric")
"""Folder of the offline `evaluate` metric: ``evaluate.load(CTR_METRIC_PATH)``."""


def ctr_metrics(labels, probabilities, eps: float = 1e-7) -> dict[str, float]:
    """``{"auc", "logloss"}`` of click probabilities against 0/1 labels."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if y.size == 0:
        raise ValueError("No samples to evaluate.")
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} predictions.")
    bad = np.setdiff1d(np.unique(y), [0.0, 1.0])
    if bad.size:
        raise ValueError(f"CTR labels must be 0/1; found {bad[:5].tolist()}.")
    p = np.clip(p, eps, 1 - eps)
    auc = float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")
    return {"auc": auc, "logloss": float(log_loss(y, p, labels=[0, 1]))}


def click_probabilities(logits):
    """Click probabilities (a float64 tensor) of click logits: float32 rounds a logit above ~17 to exactly 1."""
    import torch

    return torch.sigmoid(torch.as_tensor(logits).detach().double()).cpu()


def sigmoid(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def compute_ctr_metrics(eval_pred) -> dict[str, float]:
    """`Trainer` hook: predictions are click logits (the first output when a tuple)."""
    predictions, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(predictions, (tuple, list)):
        predictions = predictions[0]
    return ctr_metrics(labels, sigmoid(predictions))
