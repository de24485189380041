"""flip_hf: FLIP (RecSys'24) — fine-grained alignment of ID-based CTR models and language models."""

__version__ = "0.1.0"

from .baselines import CTRBertConfig, CTRBertForCTR, P5Config, P5ForCTR, build_baseline
from .baselines import register_auto_classes as register_baseline_auto_classes
from .collator import DataCollatorForCTR, DataCollatorForFlipPretraining
from .configuration_flip import FlipConfig
from .data import field_names_of, field_sides, list_datasets, load_ctr_dataset
from .id_models import build_id_model, list_id_models
from .metrics import compute_ctr_metrics, ctr_metrics
from .modeling_flip import (
    FlipCTROutput,
    FlipForCTR,
    FlipForPretraining,
    FlipPreTrainedModel,
    FlipPretrainingOutput,
    register_auto_classes,
)
from .packaged_plm import default_plm_path
from .serving import CTRPredictionPipeline, ctr_pipeline, register_pipeline, score_file
from .tokenization_flip import FlipTabularTokenizer

register_auto_classes()
register_baseline_auto_classes()
register_pipeline()

__all__ = [
    "FlipConfig",
    "FlipForCTR",
    "FlipForPretraining",
    "FlipPreTrainedModel",
    "FlipCTROutput",
    "FlipPretrainingOutput",
    "FlipTabularTokenizer",
    "CTRBertConfig",
    "CTRBertForCTR",
    "P5Config",
    "P5ForCTR",
    "build_baseline",
    "DataCollatorForCTR",
    "DataCollatorForFlipPretraining",
    "load_ctr_dataset",
    "list_datasets",
    "field_names_of",
    "field_sides",
    "build_id_model",
    "list_id_models",
    "compute_ctr_metrics",
    "ctr_metrics",
    "default_plm_path",
    "CTRPredictionPipeline",
    "ctr_pipeline",
    "register_pipeline",
    "score_file",
]
