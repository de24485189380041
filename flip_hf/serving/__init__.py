"""Serving FLIP models (issue #26): the ``"ctr-prediction"`` pipeline and batch scoring of table files.
ONNX export of FLIP_ID lives in `flip_hf.serving.export` (it needs the ``serve`` extra)."""

from .batch import score_file
from .pipeline import CTR_TASK, CTRPredictionPipeline, ctr_pipeline, register_pipeline

__all__ = ["CTR_TASK", "CTRPredictionPipeline", "ctr_pipeline", "register_pipeline", "score_file"]
