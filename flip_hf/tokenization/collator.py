"""Batch collators: dynamic padding for CTR training, and FLIP's corrupted views for pretraining.

Every random choice of pretraining (which fields are masked in each view, which tokens under
token-level masking, and the NCE noise features) is a function of (seed, epoch, row content) only,
drawn from a counter-based hash. A row is therefore masked the same way whatever batch it lands
in, however many processes share the batch and wherever a run was resumed: one step on a batch of
2B rows, two accumulated steps of B and two processes of B see the same corruptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..schema import LABEL_COLUMN
from .tokenization_flip import MASK_ID, FlipTabularTokenizer

_TEXT_KEYS = ("input_ids", "attention_mask", "token_field_ids")
_STREAM_TEXT_FIELDS, _STREAM_TAB_FIELDS, _STREAM_TOKENS, _STREAM_NOISE = 1, 2, 3, 4


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


# ------------------------------------------------------------------------------ counter-based draws
def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective, well-mixed hash of uint64 values (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def row_keys(feature_ids: torch.Tensor, seed: int, epoch: int) -> np.ndarray:
    """One uint64 key per row from its feature ids, the seed and the epoch."""
    ids = feature_ids.numpy().astype(np.uint64)
    key = _mix64(np.full(ids.shape[0], (seed * 1_000_003 + epoch) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64))
    for f in range(ids.shape[1]):
        key = _mix64(key ^ ids[:, f])
    return key


def uniforms(keys: np.ndarray, stream: int, n: int) -> np.ndarray:
    """(B, n) uniforms in [0, 1): draw ``j`` of ``stream`` for each row key; the same key, stream and
    ``j`` always give the same number, whatever ``n``."""
    with np.errstate(over="ignore"):
        base = _mix64(keys ^ np.uint64(stream * 0x632BE59BD9B4E019 & 0xFFFFFFFFFFFFFFFF))
        counters = np.arange(n, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
        bits = _mix64(base[:, None] + counters[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def choose_fields(present: torch.Tensor, ratio: float, scores: np.ndarray) -> torch.Tensor:
    """Per row, ``max(1, round(ratio * F))`` of the ``present`` fields (B x F bool): the ones with the
    highest ``scores``. Rows with fewer present fields get all of them."""
    num_fields = present.shape[1]
    k = min(max(1, round(ratio * num_fields)), num_fields)
    ranked = torch.from_numpy(scores).masked_fill(~present, -1.0)
    chosen = torch.zeros_like(present).scatter_(1, ranked.topk(k, dim=1).indices, True)
    return chosen & present


@dataclass
class DataCollatorForFlipPretraining:
    """Builds FLIP's corrupted views, independently per row and per view (paper Section IV-C1).

    * text, ``text_masking="field"``: ``round(text_mask_ratio*F)`` (>= 1) fields per row; every
      VALUE token of those fields becomes the mask token (template tokens never);
      ``text_masking="token"``: each non-special token is masked with ``token_mask_probability``
      (at least one per row), the "w/o field-level masking" ablation.
    * tabular: ``round(tab_mask_ratio*F)`` (>= 1) fields per row get the shared ``<MASK>`` id.
    * ``nce_noise``: for each masked tabular field, ``num_noise`` feature ids drawn from the
      training-set frequencies (Eq. 10), in the order of the masked fields.

    Build it with `from_config` (the hyperparameters live in `FlipConfig`). Call `set_epoch` at
    each epoch (`FlipPretrainingTrainer` does) so that every epoch draws new corruptions.
    Output: ``input_ids``, ``attention_mask``, ``feature_ids`` (clean views), ``masked_input_ids``,
    ``mlm_labels`` (original token at masked positions, -100 elsewhere), ``masked_feature_ids``,
    ``mtm_mask`` (B x F bool), ``nce_noise`` (B x k x K).
    """

    tokenizer: FlipTabularTokenizer
    text_mask_ratio: float
    tab_mask_ratio: float
    text_masking: str
    token_mask_probability: float
    num_noise: int
    seed: int = 0
    pad_to_multiple_of: int | None = None
    epoch: int = field(default=0, init=False)

    def __post_init__(self):
        text_tok = self.tokenizer.text_tokenizer
        self._mask_token_id = text_tok.mask_token_id
        self._pad_token_id = text_tok.pad_token_id or 0
        self._special_ids = torch.tensor(sorted(set(text_tok.all_special_ids)), dtype=torch.long)
        counts = np.asarray(self.tokenizer.feature_counts, dtype=np.float64)
        if counts.sum() <= 0:
            raise ValueError("The tokenizer's feature counts are all zero: fit it on a non-empty training split.")
        self._noise_cdf = np.cumsum(counts) / counts.sum()

    @classmethod
    def from_config(cls, tokenizer: FlipTabularTokenizer, config, **kwargs: Any) -> DataCollatorForFlipPretraining:
        """A collator with the masking and NCE hyperparameters of a `FlipConfig`."""
        return cls(
            tokenizer,
            text_mask_ratio=config.text_mask_ratio,
            tab_mask_ratio=config.tab_mask_ratio,
            text_masking=config.text_masking,
            token_mask_probability=config.token_mask_probability,
            num_noise=config.nce_num_noise,
            **kwargs,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _text_mask(self, batch: dict[str, torch.Tensor], field_of_token: torch.Tensor, keys: np.ndarray):
        input_ids = batch["input_ids"]
        num_rows, length = input_ids.shape
        if self.text_masking == "field":
            num_fields = batch["feature_ids"].shape[1]
            is_value = field_of_token >= 0
            # fields with >= 1 value token; non-value tokens write into a spare column F (dropped),
            # so they cannot overwrite field 0's entry (scatter keeps the LAST write per index)
            present = torch.zeros(num_rows, num_fields + 1, dtype=torch.bool)
            present.scatter_(1, torch.where(is_value, field_of_token, num_fields), True)
            present = present[:, :num_fields]
            scores = uniforms(keys, _STREAM_TEXT_FIELDS, num_fields)
            chosen = choose_fields(present, self.text_mask_ratio, scores)
            return is_value & chosen.gather(1, field_of_token.clamp(min=0))
        maskable = (batch["attention_mask"] == 1) & ~torch.isin(input_ids, self._special_ids)
        draw = torch.from_numpy(uniforms(keys, _STREAM_TOKENS, length))
        text_mask = maskable & (draw < self.token_mask_probability)
        # at least one masked token per row: the maskable token with the smallest draw
        first = draw.masked_fill(~maskable, 2.0).argmin(dim=1, keepdim=True)
        return text_mask.scatter(1, first, maskable.gather(1, first) | text_mask.gather(1, first))

    def _noise(self, keys: np.ndarray, tab_chosen: torch.Tensor) -> torch.Tensor:
        num_rows, num_fields = tab_chosen.shape
        k = int(tab_chosen[0].sum())
        draws = uniforms(keys, _STREAM_NOISE, num_fields * self.num_noise).reshape(num_rows, num_fields, -1)
        fields = tab_chosen.nonzero(as_tuple=True)[1].view(num_rows, k).numpy()
        picked = np.take_along_axis(draws, fields[:, :, None], axis=1)  # (B, k, K): draws of the masked fields
        ids = np.searchsorted(self._noise_cdf, picked, side="right")
        return torch.from_numpy(np.minimum(ids, len(self._noise_cdf) - 1).astype(np.int64))

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_text_batch(features, self._pad_token_id, self.pad_to_multiple_of)
        if "token_field_ids" not in batch or "feature_ids" not in batch:
            raise KeyError("Pretraining rows need feature_ids, input_ids and token_field_ids (encode with text=True).")
        input_ids, field_of_token = batch["input_ids"], batch.pop("token_field_ids")
        keys = row_keys(batch["feature_ids"], self.seed, self.epoch)
        text_mask = self._text_mask(batch, field_of_token, keys)
        batch["masked_input_ids"] = input_ids.masked_fill(text_mask, self._mask_token_id)
        batch["mlm_labels"] = input_ids.masked_fill(~text_mask, -100)
        all_fields = torch.ones_like(batch["feature_ids"], dtype=torch.bool)
        tab_scores = uniforms(keys, _STREAM_TAB_FIELDS, all_fields.shape[1])
        tab_chosen = choose_fields(all_fields, self.tab_mask_ratio, tab_scores)
        batch["masked_feature_ids"] = batch["feature_ids"].masked_fill(tab_chosen, MASK_ID)
        batch["mtm_mask"] = tab_chosen
        batch["nce_noise"] = self._noise(keys, tab_chosen)
        return batch
