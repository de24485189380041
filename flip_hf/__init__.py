"""flip_hf: FLIP (RecSys'24) — fine-grained alignment of ID-based CTR models and language models."""

__version__ = "0.1.0"

import sys as _sys

from .baselines import CTRBertConfig, CTRBertForCTR, P5Config, P5ForCTR, build_baseline
from .baselines import register_auto_classes as register_baseline_auto_classes
from .data import field_names_of, field_sides, list_datasets, load_ctr_dataset
from .id_models import build_id_model, list_id_models
from .metrics import compute_ctr_metrics, ctr_metrics
from .models import (
    FlipConfig,
    FlipCTROutput,
    FlipForCTR,
    FlipForPretraining,
    FlipPreTrainedModel,
    FlipPretrainingOutput,
    register_auto_classes,
)
from .models import configuration_flip as _configuration_flip
from .models import modeling_flip as _modeling_flip
from .packaged_plm import default_plm_path
from .serving import CTRPredictionPipeline, ctr_pipeline, register_pipeline, score_file
from .tokenization import DataCollatorForCTR, DataCollatorForFlipPretraining, FlipTabularTokenizer

# Folders saved before the models/ package existed hold remote-code stubs that import
# flip_hf.configuration_flip and flip_hf.modeling_flip: those module names keep working.
_sys.modules.setdefault(f"{__name__}.configuration_flip", _configuration_flip)
_sys.modules.setdefault(f"{__name__}.modeling_flip", _modeling_flip)

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
