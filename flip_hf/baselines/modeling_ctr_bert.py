"""`CTRBertForCTR`: the two-tower CTR-BERT baseline of paper Table II (Section V-A3 "Baselines"): the
user's text and the item's text go through their own BERT-style encoders, and a late-fusion MLP over
the two text vectors and their element-wise product gives the click logit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel

from ..id_models.layers import MLP
from ..models.plm import pool_text, strip_pooler, truncate_layers
from .configuration import CTRBertConfig
from .encoders import load_encoder
from .modeling_base import BaselineCTROutput, BaselinePreTrainedModel
from .processing_ctr_bert import CTRBertProcessor


class CTRBertForCTR(BaselinePreTrainedModel):
    """CTR-BERT: ``logit = MLP([u; i; u * i])`` with ``u`` / ``i`` the [CLS] vectors of the user and
    item towers (``text_pooling``); BCE loss.

    The towers live in ``text_model`` (a `ModuleDict`: ``user`` and ``item``, or one ``shared``
    encoder with ``share_towers=True``), so `FlipTrainer`'s ``text_learning_rate`` applies to both;
    the fusion MLP trains at the Trainer's ``learning_rate``.
    """

    config_class = CTRBertConfig
    config: CTRBertConfig
    main_input_name = "user_input_ids"
    processor_class = CTRBertProcessor

    def __init__(
        self, config: CTRBertConfig, user_encoder: nn.Module | None = None, item_encoder: nn.Module | None = None
    ):
        super().__init__(config)
        if config.text_config is None and user_encoder is None:
            raise ValueError("CTRBertConfig.text_config is None: build the model with from_text_pretrained().")
        user = strip_pooler(user_encoder if user_encoder is not None else AutoModel.from_config(config.text_config))
        if config.share_towers:
            if item_encoder is not None:
                raise ValueError("share_towers=True takes one encoder (user_encoder), not two.")
            self.text_model = nn.ModuleDict({"shared": user})
        else:
            item = item_encoder if item_encoder is not None else AutoModel.from_config(config.text_config)
            self.text_model = nn.ModuleDict({"user": user, "item": strip_pooler(item)})
        config.text_config = user.config
        hidden = user.config.hidden_size
        self.fusion = MLP(3 * hidden, config.fusion_hidden_sizes, dropout=config.fusion_dropout, output_size=1)
        self.post_init()

    @property
    def user_tower(self) -> nn.Module:
        return self.text_model["shared" if self.config.share_towers else "user"]

    @property
    def item_tower(self) -> nn.Module:
        return self.text_model["shared" if self.config.share_towers else "item"]

    @classmethod
    def from_text_pretrained(
        cls,
        plm_path: str | os.PathLike | None = None,
        tokenizer: Any = None,
        user_fields: Sequence[str] | None = None,
        item_fields: Sequence[str] | None = None,
        **config_overrides: Any,
    ) -> CTRBertForCTR:
        """Both towers from one local encoder checkpoint (default: the packaged MiniLM), loaded offline.

        ``tokenizer`` (the data's `FlipTabularTokenizer`) gives the fields; ``user_fields`` the user's
        (``item_fields`` default to the rest); keyword arguments override `CTRBertConfig` fields
        (``share_towers=True``, ``fusion_hidden_sizes=[128]``, ...). The new fusion MLP is initialised,
        the towers keep the checkpoint's weights.
        """
        if tokenizer is None or user_fields is None:
            raise ValueError("from_text_pretrained needs the FlipTabularTokenizer (tokenizer=...) and user_fields.")
        user = load_encoder(plm_path)
        config = CTRBertConfig(
            field_names=list(tokenizer.field_names),
            user_fields=list(user_fields),
            item_fields=None if item_fields is None else list(item_fields),
            text_config=user.config.to_dict(),
            **config_overrides,
        )
        config.check_tokenizer(tokenizer)
        item = None if config.share_towers else load_encoder(plm_path)
        return cls(config, user_encoder=user, item_encoder=item)

    def truncate_text_layers(self, num_layers: int) -> None:
        """Keep only the first ``num_layers`` layers of each tower (CPU runs)."""
        for tower in self.text_model.values():
            truncate_layers(tower, num_layers)
        self.config.text_config.num_hidden_layers = num_layers

    def text_vector(self, tower: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        states = tower(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool_text(states, attention_mask, self.config.text_pooling)

    def forward(
        self,
        user_input_ids: torch.LongTensor,
        item_input_ids: torch.LongTensor,
        user_attention_mask: torch.Tensor | None = None,
        item_attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> BaselineCTROutput:
        u = self.text_vector(self.user_tower, user_input_ids, user_attention_mask)
        i = self.text_vector(self.item_tower, item_input_ids, item_attention_mask)
        logits = self.fusion(torch.cat([u, i, u * i], dim=-1)).squeeze(-1)
        loss = None
        if labels is not None:
            loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype).view(-1))
        return BaselineCTROutput(loss=loss, logits=logits)


__all__ = ["CTRBertForCTR"]
