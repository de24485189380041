"""AUC / Logloss: the Trainer hook, plain arrays, and the offline `evaluate` module."""

import math

import evaluate
import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score
from transformers import EvalPrediction

from flip_hf.metrics import CTR_METRIC_PATH, compute_ctr_metrics, ctr_metrics


def test_ctr_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + 0.7 * rng.random(500), 0.01, 0.99)
    out = ctr_metrics(y, p)
    assert out["auc"] == pytest.approx(roc_auc_score(y, p))
    assert out["logloss"] == pytest.approx(log_loss(y, p))


def test_trainer_hook_reads_logits_and_tuples():
    logits = np.array([-2.0, 1.0, 0.5, -0.3])
    labels = np.array([0, 1, 1, 0])
    probs = 1 / (1 + np.exp(-logits))
    expected = {"auc": 1.0, "logloss": log_loss(labels, probs)}
    for predictions in (logits, (logits, logits * 0 + 3.0)):
        out = compute_ctr_metrics(EvalPrediction(predictions=predictions, label_ids=labels))
        assert out["auc"] == pytest.approx(expected["auc"]) and out["logloss"] == pytest.approx(expected["logloss"])


def test_offline_evaluate_module_equals_plain_metrics():
    metric = evaluate.load(CTR_METRIC_PATH)
    y, p = [0, 1, 1, 0, 1], [0.2, 0.7, 0.4, 0.5, 0.9]
    metric.add_batch(predictions=p[:2], references=y[:2])
    metric.add_batch(predictions=p[2:], references=y[2:])
    out = metric.compute()
    ref = ctr_metrics(y, p)
    assert out["auc"] == pytest.approx(ref["auc"]) and out["logloss"] == pytest.approx(ref["logloss"])


def test_bad_labels_and_degenerate_input():
    with pytest.raises(ValueError, match="0/1"):
        ctr_metrics([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="No samples"):
        ctr_metrics([], [])
    with pytest.raises(ValueError, match="labels but"):
        ctr_metrics([0, 1], [0.5])
    assert math.isnan(ctr_metrics([1, 1], [0.2, 0.9])["auc"])  # one class: AUC undefined, not a crash
