"""What the PLM baselines' models share (paper Table II, Section V-A3): the output, weight init that
keeps loaded text models as they are, and click probabilities on raw rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ..models.prediction import predict_in_batches
from ..schema import rows_to_columns


@dataclass
class BaselineCTROutput(ModelOutput):
    """Output of the PLM baselines.

    loss: BCE of the click logits (P5: the cross-entropy over its two answer words, the same number).
    logits: (B,) click logit; sigmoid gives the click probability.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class BaselinePreTrainedModel(PreTrainedModel):
    """Base of `CTRBertForCTR` and `P5ForCTR`.

    Subclasses set ``config_class`` and ``processor_class`` (the `BaselineProcessor` that builds
    their inputs from a `FlipTabularTokenizer` and their config).
    """

    # losses are means over the local batch: the Trainer divides by the accumulation steps itself
    accepts_loss_kwargs = False
    base_model_prefix = "baseline"
    _supports_sdpa = True
    processor_class: Any = None

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """HF's scheme (normal(0, ``initializer_range``), zero biases) for the new layers. The text
        models are `PreTrainedModel`s, initialised by their own scheme when built from a config; weights
        loaded from a checkpoint are marked initialised and left as they are."""
        super()._init_weights(module)

    def build_processor(self, tokenizer: Any):
        """The processor of this model for a `FlipTabularTokenizer` fitted on the same table."""
        return self.processor_class.from_config(tokenizer, self.config)

    @torch.no_grad()
    def predict_proba(self, rows: Any, tokenizer: Any, batch_size: int = 256) -> torch.Tensor:
        """Click probabilities (N,) for raw rows (a dict, a list of dicts, a dict of lists or a DataFrame),
        batched, without gradients.

        Unseen values keep their text (the tokenizer's ``unseen_text="value"``); missing values read "unknown".
        """
        processor = self.build_processor(tokenizer)
        collator = processor.data_collator(training=False)
        columns = rows_to_columns(rows)
        n = len(next(iter(columns.values()))) if columns else 0

        def batch_inputs(start: int, end: int) -> dict[str, torch.Tensor]:
            batch = collator(processor.features({k: list(v[start:end]) for k, v in columns.items()}))
            batch.pop("labels", None)
            return batch

        return predict_in_batches(self, n, batch_inputs, batch_size)


__all__ = ["BaselineCTROutput", "BaselinePreTrainedModel"]
