"""CTR metric (AUC and Logloss) as an offline `evaluate` module: ``evaluate.load(<this folder>)``.

References are 0/1 click labels; predictions are click probabilities.
"""

import datasets
import evaluate

from flip_hf.metrics import ctr_metrics

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
        return ctr_metrics(references, predictions, eps=eps)
