"""`P5ForCTR`: the P5 baseline of paper Table II (Section V-A3 "Baselines"), CTR prediction as text
generation with an encoder-decoder (T5 family) for one task, with several question templates.

The click probability is the softmax over the logits of the answer words "yes" and "no" at the first
decoder step, ``sigmoid(logit_yes - logit_no)``; the loss is the cross-entropy over those two words,
i.e. BCE on ``logit_yes - logit_no``, which is the model's click logit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForSeq2SeqLM

from .configuration import P5_ANSWER_WORDS, P5Config
from .encoders import load_encoder_decoder, truncate_encoder_decoder
from .modeling_base import BaselineCTROutput, BaselinePreTrainedModel
from .processing_p5 import P5Processor, answer_token_ids


def decoder_start_token_id(model: nn.Module) -> int:
    """The token an encoder-decoder starts decoding from: its config's ``decoder_start_token_id``,
    else its generation config's; ValueError when neither has one."""
    for config in (model.config, getattr(model, "generation_config", None)):
        start = getattr(config, "decoder_start_token_id", None)
        if start is not None:
            return int(start)
    raise ValueError(
        f"{type(model).__name__} has no decoder_start_token_id in its config or generation config "
        "(T5 starts from its pad token, 0): set it in the checkpoint's config.json."
    )


class P5ForCTR(BaselinePreTrainedModel):
    """P5 for CTR prediction: ``logits = logit_yes - logit_no`` at the first decoder step (B,).

    Inputs come from `DataCollatorForP5`: ``input_ids`` / ``attention_mask`` in the evaluation
    template, and for training ``sampled_input_ids`` / ``sampled_attention_mask`` in a template drawn
    per row; the drawn ones are read in training mode only. The whole model is the pretrained
    encoder-decoder (``text_model``), so `FlipTrainer`'s ``text_learning_rate`` is its learning rate.
    """

    config_class = P5Config
    config: P5Config
    main_input_name = "input_ids"
    processor_class = P5Processor

    def __init__(self, config: P5Config, text_model: nn.Module | None = None):
        super().__init__(config)
        if text_model is None:
            if config.text_config is None:
                raise ValueError("P5Config.text_config is None: build the model with from_text_pretrained().")
            text_model = AutoModelForSeq2SeqLM.from_config(config.text_config)
        if not getattr(text_model.config, "is_encoder_decoder", False):
            raise ValueError(f"P5 needs an encoder-decoder text model, got {type(text_model).__name__}.")
        self.text_model = text_model
        config.text_config = text_model.config
        self.start_token_id = decoder_start_token_id(text_model)
        answers = (config.yes_token_id, config.no_token_id)
        vocab = text_model.config.vocab_size
        if any(a is None or not 0 <= a < vocab for a in answers):
            raise ValueError(f"P5Config needs yes_token_id / no_token_id in [0, {vocab}), got {answers}.")
        self.post_init()

    @classmethod
    def from_text_pretrained(
        cls,
        plm_path: str | os.PathLike | None = None,
        tokenizer: Any = None,
        user_fields: Sequence[str] | None = None,
        item_fields: Sequence[str] | None = None,
        **config_overrides: Any,
    ) -> P5ForCTR:
        """P5 around a local encoder-decoder checkpoint (T5 family, `AutoModelForSeq2SeqLM`), loaded offline.

        ``tokenizer`` (the data's `FlipTabularTokenizer`, whose text tokenizer must be the checkpoint's)
        gives the fields and the answer words' token ids; ``user_fields`` the user's (``item_fields``
        default to the rest); keyword arguments override `P5Config` fields (``templates``,
        ``eval_template``, ``answer_words``).
        """
        if tokenizer is None or user_fields is None:
            raise ValueError("from_text_pretrained needs the FlipTabularTokenizer (tokenizer=...) and user_fields.")
        words = config_overrides.pop("answer_words", None) or P5_ANSWER_WORDS
        yes_id, no_id = answer_token_ids(tokenizer.text_tokenizer, words)
        text_model = load_encoder_decoder(plm_path)
        config = P5Config(
            field_names=list(tokenizer.field_names),
            user_fields=list(user_fields),
            item_fields=None if item_fields is None else list(item_fields),
            text_config=text_model.config.to_dict(),
            answer_words=list(words),
            yes_token_id=yes_id,
            no_token_id=no_id,
            **config_overrides,
        )
        config.check_tokenizer(tokenizer)
        return cls(config, text_model=text_model)

    def truncate_text_layers(self, num_layers: int) -> None:
        """Keep only the first ``num_layers`` blocks of the encoder and of the decoder (CPU runs)."""
        truncate_encoder_decoder(self.text_model, num_layers)

    def answer_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The logits (B, V) of the first decoder step, after the decoder start token."""
        start = torch.full((input_ids.shape[0], 1), self.start_token_id, dtype=torch.long, device=input_ids.device)
        out = self.text_model(
            input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start, use_cache=False
        )
        return out.logits[:, 0]

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        sampled_input_ids: torch.LongTensor | None = None,
        sampled_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> BaselineCTROutput:
        if self.training and sampled_input_ids is not None:
            input_ids, attention_mask = sampled_input_ids, sampled_attention_mask
        first = self.answer_logits(input_ids, attention_mask)
        logits = first[:, self.config.yes_token_id] - first[:, self.config.no_token_id]
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype).view(-1))
        return BaselineCTROutput(loss=loss, logits=logits)


__all__ = ["P5ForCTR", "decoder_start_token_id"]
