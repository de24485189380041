"""Training a PLM baseline (paper Table II, Section V-A3) with a `FlipTrainer`: the encoded splits, the
processor's collator, AUC/Logloss on the validation split during training; the test split is not read."""

from __future__ import annotations

from typing import Any

from ..training.loops import train_encoded
from ..training.trainer import FlipTrainer
from .modeling_base import BaselinePreTrainedModel
from .processing import BaselineProcessor


def train_baseline(
    model: BaselinePreTrainedModel,
    processor: BaselineProcessor,
    ds: Any,
    training_args: Any,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[FlipTrainer, Any, dict[str, Any]]:
    """Encode ``ds`` (a `DatasetDict`) with the processor and train ``model`` on its ``train`` split
    (`flip_hf.training.loops.train_encoded`: validation only during training). The text model trains at
    ``text_learning_rate`` (P5: the whole model), new layers at ``training_args.learning_rate``.
    Returns the trainer, the encoded splits and the training facts."""
    with training_args.main_process_first(desc="encoding"):
        encoded = processor.encode_dataset(ds)
    collator = processor.data_collator(seed=training_args.seed)
    trainer, facts = train_encoded(model, encoded, training_args, collator, processor, text_learning_rate, callbacks)
    return trainer, encoded, facts


__all__ = ["train_baseline"]
