"""FLIP's models (paper Section IV): the config, the pretraining and CTR models wrapping any ID model
(`flip_hf.id_models`) and any HF text encoder, the pretraining heads, text-encoder loading, saved-folder
checks, Auto-class registration and the prediction loop. Models read tensors, never rows or files of
data; they know nothing of the tokenizer beyond its vocabulary sizes (`FlipConfig.from_tokenizer`)."""

from .configuration_flip import PRETRAINING_PRESETS, FlipConfig
from .modeling_flip import (
    FlipCTROutput,
    FlipForCTR,
    FlipForPretraining,
    FlipPreTrainedModel,
    FlipPretrainingOutput,
    register_auto_classes,
)

__all__ = [
    "PRETRAINING_PRESETS",
    "FlipCTROutput",
    "FlipConfig",
    "FlipForCTR",
    "FlipForPretraining",
    "FlipPreTrainedModel",
    "FlipPretrainingOutput",
    "register_auto_classes",
]
