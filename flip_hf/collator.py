"""Batch collators: dynamic padding for CTR training, and FLIP's field-level masking for pretraining."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .schema import LABEL_COLUMN
from .tokenization_flip import MASK_ID, FlipTabularTokenizer

_TEXT_KEYS = ("input_ids", "attention_mask", "token_field_ids")


def pad_text_batch(features: list[dict[str, Any]], pad_token_id: int, pad_to_multiple_of: int | None = None):
    """Stack ``feature_ids`` and right-pad the text keys of a list of encoded rows into tensors."""
    batch: dict[str, torch.Tensor] = {}
    if "feature_ids" in features[0]:
        batch["feature_ids"] = torch.tensor([f["feature_ids"] for f in features], dtype=torch.long)
    if "input_ids" in features[0]:
        length = max(len(f["input_ids"]) for f in features)
        if pad_to_multiple_of:
            length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
        fill = {"input_ids": pad_token_id, "attention_mask": 0, "token_field_ids": -1}
        for key in _TEXT_KEYS:
            if key in features[0]:
                rows = [list(f[key]) + [fill[key]] * (length - len(f[key])) for f in features]
                batch[key] = torch.tensor(rows, dtype=torch.long)
    return batch


@dataclass
class DataCollatorForCTR:
    """Pads encoded rows; ``label`` becomes float ``labels``. ``text=False`` keeps only the
    tabular view (ID-only models)."""

    tokenizer: FlipTabularTokenizer
    text: bool = True
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not self.text:
            features = [{k: v for k, v in f.items() if k not in _TEXT_KEYS} for f in features]
        batch = pad_text_batch(features, self.tokenizer.text_tokenizer.pad_token_id or 0, self.pad_to_multiple_of)
        batch.pop("token_field_ids", None)
        key = "labels" if "labels" in features[0] else LABEL_COLUMN
        if key in features[0]:
            batch["labels"] = torch.tensor([float(f[key]) for f in features], dtype=torch.float32)
        return batch


def choose_fields(present: torch.Tensor, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per row, ``max(1, round(ratio * F))`` fields chosen uniformly among the ``present`` ones.

    present: (B, F) bool. Returns a (B, F) bool mask (fewer picks when fewer fields are present).
    """
    num_rows, num_fields = present.shape
    k = max(1, round(ratio * num_fields))
    scores = torch.rand(num_rows, num_fields, generator=generator)
    scores = scores.masked_fill(~present, -1.0)
    top = scores.topk(min(k, num_fields), dim=1).indices
    chosen = torch.zeros_like(present).scatter_(1, top, True)
    return chosen & present


@dataclass
class DataCollatorForFlipPretraining:
    """Builds FLIP's corrupted views, independently per row and per view (SPEC section 3).

    * text, ``text_masking="field"``: ``round(text_mask_ratio*F)`` (>= 1) fields per row; every
      VALUE token of those fields becomes the mask token (template tokens never);
      ``text_masking="token"``: each non-special token is masked with ``token_mask_probability``
      (at least one per row) — the "w/o field-level masking" ablation.
    * tabular: ``round(tab_mask_ratio*F)`` (>= 1) fields per row get the shared ``<MASK>`` id.

    Output: ``input_ids``, ``attention_mask``, ``feature_ids`` (clean views), ``masked_input_ids``,
    ``mlm_labels`` (original token at masked positions, -100 elsewhere), ``masked_feature_ids``,
    ``mtm_mask`` (B x F bool). Fully vectorised.
    """

    tokenizer: FlipTabularTokenizer
    text_mask_ratio: float = 0.15
    tab_mask_ratio: float = 0.15
    text_masking: str = "field"
    token_mask_probability: float = 0.15
    pad_to_multiple_of: int | None = None
    generator: torch.Generator | None = None

    def __post_init__(self):
        if self.text_masking not in ("field", "token"):
            raise ValueError(f"text_masking must be 'field' or 'token', got {self.text_masking!r}.")
        text_tok = self.tokenizer.text_tokenizer
        self._mask_token_id = text_tok.mask_token_id
        self._pad_token_id = text_tok.pad_token_id or 0
        self._special_ids = torch.tensor(sorted(set(text_tok.all_special_ids)), dtype=torch.long)

    @classmethod
    def from_config(cls, tokenizer: FlipTabularTokenizer, config, **kwargs):
        """A collator with the masking hyperparameters of a `FlipConfig`."""
        return cls(
            tokenizer,
            text_mask_ratio=config.text_mask_ratio,
            tab_mask_ratio=config.tab_mask_ratio,
            text_masking=config.text_masking,
            token_mask_probability=config.token_mask_probability,
            **kwargs,
        )

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_text_batch(features, self._pad_token_id, self.pad_to_multiple_of)
        if "token_field_ids" not in batch or "feature_ids" not in batch:
            raise KeyError("Pretraining rows need feature_ids, input_ids and token_field_ids (encode with text=True).")
        input_ids, field_of_token = batch["input_ids"], batch.pop("token_field_ids")
        num_fields = batch["feature_ids"].shape[1]
        if self.text_masking == "field":
            is_value = field_of_token >= 0
            # fields with >= 1 value token; non-value tokens write into a spare column F (dropped),
            # so they cannot overwrite field 0's entry (scatter keeps the LAST write per index)
            present = torch.zeros(input_ids.shape[0], num_fields + 1, dtype=torch.bool)
            present.scatter_(1, torch.where(is_value, field_of_token, num_fields), True)
            present = present[:, :num_fields]
            chosen = choose_fields(present, self.text_mask_ratio, self.generator)
            text_mask = is_value & chosen.gather(1, field_of_token.clamp(min=0))
        else:
            maskable = (batch["attention_mask"] == 1) & ~torch.isin(input_ids, self._special_ids)
            draw = torch.rand(input_ids.shape, generator=self.generator)
            text_mask = maskable & (draw < self.token_mask_probability)
            # at least one masked token per row: the maskable token with the smallest draw
            first = draw.masked_fill(~maskable, 2.0).argmin(dim=1, keepdim=True)
            text_mask.scatter_(1, first, maskable.gather(1, first) | text_mask.gather(1, first))
        batch["masked_input_ids"] = input_ids.masked_fill(text_mask, self._mask_token_id)
        batch["mlm_labels"] = input_ids.masked_fill(~text_mask, -100)
        tab_chosen = choose_fields(
            torch.ones_like(batch["feature_ids"], dtype=torch.bool), self.tab_mask_ratio, self.generator
        )
        batch["masked_feature_ids"] = batch["feature_ids"].masked_fill(tab_chosen, MASK_ID)
        batch["mtm_mask"] = tab_chosen
        return batch
