"""CTR-BERT's inputs (paper Table II, Section V-A3): the user's text and the item's text, each the
"<field> is <value>." sentences of its side's fields, each framed by the text tokenizer's special tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .processing import BaselineProcessor, labels_tensor, pad_sequences

SIDE_KEYS = ("user_input_ids", "user_attention_mask", "item_input_ids", "item_attention_mask")


class CTRBertProcessor(BaselineProcessor):
    """Encodes rows into ``user_input_ids`` / ``user_attention_mask`` and ``item_input_ids`` /
    ``item_attention_mask``; each text is cut to the tokenizer's ``max_length``.

    Example:

    ```python
    >>> processor = CTRBertProcessor(tokenizer, user_fields=["user id", "gender", "occupation"])
    >>> enc = processor({"user id": "1", "gender": "female", "occupation": None, "movie id": "3", ...})
    >>> processor.tokenizer.text_tokenizer.decode(enc["user_input_ids"][0])
    '[CLS] user id is 1. gender is female. occupation is unknown. [SEP]'
    ```
    """

    kind = "ctr_bert"

    def encode_sides(self, rows: Any) -> dict[str, list]:
        user_texts, item_texts = self.side_texts(rows)
        data: dict[str, list] = {}
        for side, encoder, texts in (("user", self.user_encoder, user_texts), ("item", self.item_encoder, item_texts)):
            ids, _ = encoder.encode(texts, max_length=self.max_length)
            data[f"{side}_input_ids"] = ids
            data[f"{side}_attention_mask"] = [[1] * len(x) for x in ids]
        return data

    def data_collator(self, seed: int = 0, training: bool = True) -> DataCollatorForCTRBert:
        """A `DataCollatorForCTRBert` (CTR-BERT draws nothing: ``seed`` and ``training`` are unused)."""
        return DataCollatorForCTRBert(self.pad_token_id)


@dataclass
class DataCollatorForCTRBert:
    """Pads the user and the item texts of encoded rows separately; ``label`` becomes float ``labels``."""

    pad_token_id: int = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = {
            key: pad_sequences([f[key] for f in features], self.pad_token_id if key.endswith("input_ids") else 0)
            for key in SIDE_KEYS
        }
        labels = labels_tensor(features)
        if labels is not None:
            batch["labels"] = labels
        return batch


__all__ = ["CTRBertProcessor", "DataCollatorForCTRBert"]
