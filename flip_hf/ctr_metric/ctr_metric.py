"""CTR metric (AUC and Logloss) as an offline `evaluate` module: ``evaluate.load(<this folder>)``.

References are 0/1 click labels; predictions are click probabilities.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

_DESCRIPTION = "AUC (area under the ROC curve) and Logloss (binary cross-entropy) of click probabilities."
_KWARGS_DESCRIPTION = """
Args:
    predictions (list of float): predicted click probabilities in [0, 1].
    references (list of int): 0/1 click labels.
    eps (float): probabilities are clipped to [eps, 1 - eps] for Logloss (default 1e-7).
Returns:
    auc (float), logloss (float)
"""


class CTRMetric(evaluate.Metric):
    """AUC and Logloss for click-through-rate prediction."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, eps=1e-7):
        y = np.asarray(references, dtype=np.float64)
        p = np.clip(np.asarray(predictions, dtype=np.float64), eps, 1 - eps)
        bad = np.setdiff1d(np.unique(y), [0.0, 1.0])
        if bad.size:
            raise ValueError(f"CTR references must be 0/1; found {bad[:5].tolist()}.")
        auc = float(roc_auc_score(y, p)) if np.unique(y).size == 2 else float("nan")
        return {"auc": auc, "logloss": float(log_loss(y, p, labels=[0, 1]))}
