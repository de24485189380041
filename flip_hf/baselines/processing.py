"""What the PLM baselines' processors share (paper Table II, Section V-A3): a fitted `FlipTabularTokenizer`
for the value texts, a user/item split of its fields, one `PromptEncoder` per side ("<field> is <value>."
sentences of that side's fields only), Arrow-cached dataset encoding and JSON persistence."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import torch

from ..data import check_field_sides
from ..schema import LABEL_COLUMN, rows_to_columns
from ..tokenization.prompt_encoding import PromptEncoder
from ..tokenization.tokenization_flip import FlipTabularTokenizer

PROCESSOR_FILE = "flip_baseline_processor.json"
_FORMAT_VERSION = 1


def pad_sequences(sequences: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad lists of token ids (or mask values) into a (B, L) int64 tensor."""
    length = max(len(s) for s in sequences)
    return torch.tensor([list(s) + [value] * (length - len(s)) for s in sequences], dtype=torch.long)


def labels_tensor(features: list[dict[str, Any]]) -> torch.Tensor | None:
    """The float ``labels`` of a batch of encoded rows (from ``labels`` or ``label``), or None."""
    key = "labels" if "labels" in features[0] else LABEL_COLUMN
    if key not in features[0]:
        return None
    return torch.tensor([float(f[key]) for f in features], dtype=torch.float32)


class BaselineProcessor:
    """Turns table rows into a PLM baseline's text inputs.

    Subclasses define `encode_sides` (the per-row features of the encoded dataset) and
    `data_collator`; this class splits each row's value texts into the user's and the item's
    sentences and handles datasets and persistence.

    Args:
        tokenizer (`FlipTabularTokenizer`):
            The tokenizer fitted on the training split: field names, value texts (unseen values keep
            their text, missing ones read "unknown") and the text tokenizer.
        user_fields (`Sequence[str]`):
            The user's fields.
        item_fields (`Sequence[str]`, *optional*):
            The item's fields; default: every other field.
    """

    kind: str = ""

    def __init__(
        self, tokenizer: FlipTabularTokenizer, user_fields: Sequence[str], item_fields: Sequence[str] | None = None
    ):
        self.tokenizer = tokenizer
        self.user_fields, self.item_fields = check_field_sides(tokenizer.field_names, user_fields, item_fields)
        text = tokenizer.text_tokenizer
        self.user_encoder = PromptEncoder(self.user_fields, text)
        self.item_encoder = PromptEncoder(self.item_fields, text)
        self._user_index = [tokenizer.field_names.index(f) for f in self.user_fields]
        self._item_index = [tokenizer.field_names.index(f) for f in self.item_fields]

    @classmethod
    def from_config(cls, tokenizer: FlipTabularTokenizer, config: Any) -> BaselineProcessor:
        """The processor of a baseline model's config (its sides and, for P5, its templates)."""
        config.check_tokenizer(tokenizer)
        return cls(tokenizer, config.user_fields, config.item_fields)

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.text_tokenizer.pad_token_id or 0

    @property
    def max_length(self) -> int:
        """Token limit of one model input, special tokens included (the tokenizer's ``max_length``)."""
        return self.tokenizer.max_length

    # ------------------------------------------------------------------ encoding
    def side_texts(self, rows: Any) -> tuple[list[list[str]], list[list[str]]]:
        """Per row, the value texts of the user's fields and of the item's fields."""
        texts = self.tokenizer.value_texts(rows)
        return [[t[i] for i in self._user_index] for t in texts], [[t[i] for i in self._item_index] for t in texts]

    def encode_sides(self, rows: Any) -> dict[str, list]:
        """Per-row features of the model's inputs, as lists (no padding)."""
        raise NotImplementedError

    def __call__(self, rows: Any) -> dict[str, list]:
        """Encode rows (a dict of lists, a list of dicts, one dict row or a DataFrame); ``label`` passes through."""
        columns = rows_to_columns(rows)
        data = self.encode_sides(columns)
        if LABEL_COLUMN in columns and LABEL_COLUMN not in self.tokenizer.field_names:
            data[LABEL_COLUMN] = list(columns[LABEL_COLUMN])
        return data

    def features(self, rows: Any) -> list[dict[str, Any]]:
        """The encoded rows as a list of per-row dicts, the collator's input."""
        data = self(rows)
        return [dict(zip(data, values)) for values in zip(*data.values())]

    def data_collator(self, seed: int = 0, training: bool = True):
        """The collator that pads encoded rows into the model's inputs."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": _FORMAT_VERSION,
            "processor_class": type(self).__name__,
            "kind": self.kind,
            "user_fields": self.user_fields,
            "item_fields": self.item_fields,
        }

    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the encoding (for `datasets` map caching)."""
        state = json.dumps([self.to_dict(), self.tokenizer.fingerprint, self.max_length], sort_keys=True)
        return hashlib.sha256(state.encode("utf-8")).hexdigest()[:32]

    def encode_dataset(self, dataset: Any, batch_size: int = 10_000, num_proc: int | None = None):
        """Encode a `datasets.Dataset` or `DatasetDict` with `Dataset.map` (batched, Arrow-cached): the
        field columns are replaced by the model's input features; ``label`` stays."""
        import datasets

        if isinstance(dataset, datasets.DatasetDict):
            return datasets.DatasetDict({k: self.encode_dataset(v, batch_size, num_proc) for k, v in dataset.items()})
        missing = [f for f in self.tokenizer.field_names if f not in dataset.column_names]
        if missing:
            raise KeyError(f"Missing column(s) {missing}: the processor reads fields {self.tokenizer.field_names}.")
        if len(dataset) == 0:
            raise ValueError("Cannot encode an empty split.")
        fingerprint = f"{dataset._fingerprint}-{self.kind}-{self.fingerprint}-{batch_size}"
        return dataset.map(
            self.__call__,
            batched=True,
            batch_size=batch_size,
            num_proc=num_proc,
            remove_columns=[c for c in dataset.column_names if c != LABEL_COLUMN],
            new_fingerprint=hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:32],
            desc=f"{self.kind} encoding",
        )

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> tuple[str, ...]:
        """Write ``flip_baseline_processor.json`` and the `FlipTabularTokenizer` into ``save_directory``."""
        os.makedirs(save_directory, exist_ok=True)
        files = list(self.tokenizer.save_pretrained(save_directory))
        path = os.path.join(save_directory, PROCESSOR_FILE)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, ensure_ascii=False, indent=2)
        return (*files, path)

    @staticmethod
    def read_state(path: str | os.PathLike) -> dict[str, Any]:
        """The saved state of a processor folder."""
        file = os.path.join(str(path), PROCESSOR_FILE)
        if not os.path.isfile(file):
            raise FileNotFoundError(f"{path} holds no {PROCESSOR_FILE}: not a baseline model folder.")
        with open(file, encoding="utf-8") as fh:
            state = json.load(fh)
        if state.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(f"{file} was written by a newer flip_hf (format {state['format_version']}).")
        return state

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, tokenizer: FlipTabularTokenizer | None = None):
        """Load from a folder written by `save_pretrained` (the tokenizer too, unless given)."""
        state = cls.read_state(path)
        if state["processor_class"] != cls.__name__:
            raise ValueError(f"{path} holds a {state['processor_class']}, not a {cls.__name__}.")
        tokenizer = tokenizer or FlipTabularTokenizer.from_pretrained(path)
        kwargs = {k: v for k, v in state.items() if k not in ("format_version", "processor_class", "kind")}
        return cls(tokenizer, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(user_fields={self.user_fields}, item_fields={self.item_fields})"


__all__ = ["BaselineProcessor", "PROCESSOR_FILE", "labels_tensor", "pad_sequences"]
