"""`FlipTabularTokenizer`: one table row -> FLIP's two views (paper Section III-A): ``feature_ids``
(one id per field) for the ID-based CTR model, and the hard-template prompt ``"<field> is <value>."``
with its ``token_field_ids`` for the language model, tokenized by `flip_hf.tokenization.prompt_encoding.PromptEncoder`.

Feature-id layout (one global space of size M = ``feature_vocab_size``)::

    0                 <PAD>
    1                 <MASK>   (shared by every field, so it does not reveal the field)
    off_f             <UNK> of field f (unseen, rare or missing value)
    off_f + 1 ...     the values of field f seen in the training split, most frequent first

Unseen values: a value the vocabulary does not hold (never seen in the training split, or seen
fewer than ``min_count`` times) gets its field's unknown id in the tabular view, but keeps its raw
text in the text view by default (``unseen_text="value"``): reading a new title or zip code is what
the language model brings. ``unseen_text="unknown"`` writes "unknown" instead. A missing value
(None, NaN, empty) is the unknown id and the text "unknown" in both modes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BatchEncoding, PreTrainedTokenizerBase

from ..packaged_plm import default_plm_path
from ..schema import LABEL_COLUMN, cells_to_text, rows_to_columns
from .prompt_encoding import PromptEncoder
from .tokenization_io import FORMAT_VERSION, TokenizerFilesMixin

PAD_ID = 0
MASK_ID = 1
UNKNOWN_TEXT = "unknown"
UNSEEN_TEXT_MODES = ("value", "unknown")
"""``unseen_text`` modes: keep an unseen value's raw text (the default), or write "unknown"."""
UNSEEN_ID_MODES = ("unknown", "mask")
"""``unseen_id`` modes: an unseen value's feature id is its field's unknown id (the default) or <MASK>."""


def _rows_tensor(columns: list[list[int]]) -> torch.Tensor:
    """Per-field id lists as a (rows, fields) int64 tensor."""
    return torch.tensor(columns, dtype=torch.long).T.contiguous()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class FlipTabularTokenizer(TokenizerFilesMixin):
    """Turns table rows into FLIP's two views (paper Section III-A): ``feature_ids`` for the ID-based
    model and the tokenized hard-template prompt, with ``token_field_ids``, for the language model.

    Fit it on the training split with `from_dataset`; call it on rows (a dict of lists, a list of
    dicts, one dict row or a DataFrame) or map a `datasets.Dataset` with `encode_dataset`.

    Args:
        field_names (`Sequence[str]`):
            The fields, in prompt order.
        vocabularies (`Mapping[str, Sequence[str]]`):
            Per field, its known value texts, most frequent first (their ids follow the field's
            unknown id in this order).
        counts (`Mapping[str, Sequence[int]]`, *optional*):
            Per field, the training-split count of each of its values (see `feature_counts`).
        unknown_counts (`Mapping[str, int]`, *optional*):
            Per field, the training-split count of its unknown id (missing and rare values).
        text_tokenizer (`PreTrainedTokenizerBase` or `str` or `os.PathLike`, *optional*):
            A fast HF tokenizer with a mask token, or a path / Hub id to load one from; defaults
            to the packaged language model's tokenizer.
        max_length (`int`, *optional*):
            Token limit of a prompt, special tokens included; defaults to the text tokenizer's
            ``model_max_length`` (512 when it has none).
        unseen_text (`str`, *optional*, defaults to `"value"`):
            Text of a value absent from the vocabulary: `"value"` keeps its raw text, `"unknown"`
            writes "unknown". Its feature id is the field's unknown id either way, and a missing
            value is always the text "unknown".
        unseen_id (`str`, *optional*, defaults to `"unknown"`):
            Feature id of a value absent from the vocabulary: `"unknown"`, its field's unknown id (which
            no training row updates when every training value is in the vocabulary), or `"mask"`, the
            shared <MASK> id that FLIP's masked tabular modelling (paper Section IV-C4) trains as "this
            field's value is hidden". A missing value is always the field's unknown id.
    """

    def __init__(
        self,
        field_names: Sequence[str],
        vocabularies: Mapping[str, Sequence[str]],
        counts: Mapping[str, Sequence[int]] | None = None,
        unknown_counts: Mapping[str, int] | None = None,
        text_tokenizer: PreTrainedTokenizerBase | str | os.PathLike | None = None,
        max_length: int | None = None,
        unseen_text: str = "value",
        unseen_id: str = "unknown",
    ):
        field_names = [str(f) for f in field_names]
        if not field_names:
            raise ValueError("FlipTabularTokenizer needs at least one field.")
        if len(set(field_names)) != len(field_names):
            raise ValueError(f"Duplicate field names: {field_names}")
        missing = [f for f in field_names if f not in vocabularies]
        if missing:
            raise ValueError(f"No vocabulary given for field(s) {missing}.")
        if unseen_text not in UNSEEN_TEXT_MODES:
            raise ValueError(
                f"unseen_text must be 'value' (default: keep the raw text of unseen values) or 'unknown', "
                f"not {unseen_text!r}."
            )
        if unseen_id not in UNSEEN_ID_MODES:
            raise ValueError(f"unseen_id must be one of {UNSEEN_ID_MODES}, not {unseen_id!r}.")
        self.field_names = field_names
        self.unseen_text = unseen_text
        self.unseen_id = unseen_id
        self._vocab: list[list[str]] = [list(vocabularies[f]) for f in field_names]
        self._offsets: list[int] = []
        self._value_to_id: list[dict[str, int]] = []
        next_id = 2
        for values in self._vocab:
            self._offsets.append(next_id)
            self._value_to_id.append({v: next_id + 1 + i for i, v in enumerate(values)})
            next_id += 1 + len(values)
        self._vocab_size = next_id
        freq = np.zeros(self._vocab_size, dtype=np.int64)
        if counts is not None:
            for f, name in enumerate(field_names):
                c = list(counts[name])
                if len(c) != len(self._vocab[f]):
                    raise ValueError(f"Field {name!r}: {len(c)} counts for {len(self._vocab[f])} values.")
                freq[self._offsets[f] + 1 : self._offsets[f] + 1 + len(c)] = c
                if unknown_counts:
                    freq[self._offsets[f]] = int(unknown_counts.get(name, 0))
        self._counts = freq
        if text_tokenizer is None or isinstance(text_tokenizer, (str, os.PathLike)):
            text_tokenizer = AutoTokenizer.from_pretrained(str(text_tokenizer or default_plm_path()))
        self.prompt_encoder = PromptEncoder(field_names, text_tokenizer)
        if text_tokenizer.mask_token_id is None:
            raise ValueError("The text tokenizer has no mask token; FLIP's masked language modelling needs one.")
        self.text_tokenizer = text_tokenizer
        limit = text_tokenizer.model_max_length if text_tokenizer.model_max_length < 100_000 else 512
        self.max_length = int(max_length or limit)
        self.loaded_from: str | None = None  # the vocabulary file, when loaded with `from_pretrained`

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataset(
        cls,
        train_split: Any,
        text_tokenizer: PreTrainedTokenizerBase | str | os.PathLike | None = None,
        min_count: int = 1,
        field_names: Sequence[str] | None = None,
        label_column: str = LABEL_COLUMN,
        **kwargs: Any,
    ) -> FlipTabularTokenizer:
        """Fit the feature vocabulary on the TRAIN split (a `datasets.Dataset`, DataFrame or dict of lists).

        Fields default to every column except ``label_column``, in column order. Values seen fewer
        than ``min_count`` times are left out of the vocabulary: like values never seen, they map to
        their field's unknown id (and keep their text under ``unseen_text="value"``). Other keyword
        arguments go to the constructor.
        """
        if hasattr(train_split, "column_names") and hasattr(train_split, "with_format"):  # datasets.Dataset
            columns = list(train_split.column_names)
            n_rows = len(train_split)
            # Read Arrow columns through the dataset's index mapping: `.data` is the underlying
            # table, which after `select` / `filter` / `shuffle` / `train_test_split` still holds
            # the rows that are not in this split.
            arrow = train_split.with_format("arrow")
            read_column = lambda name: arrow[name].to_pylist()  # noqa: E731
        else:
            if isinstance(train_split, Sequence) and not isinstance(train_split, str) and len(train_split) == 0:
                raise ValueError("Cannot fit FlipTabularTokenizer on an empty training split.")
            table = rows_to_columns(train_split)
            columns = list(table)
            n_rows = len(table[columns[0]]) if columns else 0
            read_column = table.__getitem__
        if field_names is None:
            field_names = [c for c in columns if c != label_column]
        absent = [f for f in field_names if f not in columns]
        if absent:
            raise ValueError(f"Missing column(s) {absent} in the training split (columns: {columns}).")
        if not field_names:
            raise ValueError("The training split has no field columns besides the label.")
        if n_rows == 0:  # `len()` of a dict of lists would count its columns
            raise ValueError("Cannot fit FlipTabularTokenizer on an empty training split.")
        vocab, counts, unknown = {}, {}, {}
        for name in field_names:
            column = read_column(name)
            counter = Counter(cells_to_text(column))
            missing = counter.pop(None, 0)
            kept = sorted(((v, c) for v, c in counter.items() if c >= min_count), key=lambda vc: (-vc[1], vc[0]))
            vocab[name] = [v for v, _ in kept]
            counts[name] = [c for _, c in kept]
            unknown[name] = missing + sum(c for c in counter.values() if c < min_count)
        return cls(field_names, vocab, counts, unknown, text_tokenizer=text_tokenizer, **kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def num_fields(self) -> int:
        return len(self.field_names)

    @property
    def feature_vocab_size(self) -> int:
        """M: size of the global feature-id space (reserved ids included)."""
        return self._vocab_size

    @property
    def mask_feature_id(self) -> int:
        return MASK_ID

    @property
    def pad_feature_id(self) -> int:
        return PAD_ID

    @property
    def feature_counts(self) -> torch.Tensor:
        """Training-split frequency of every feature id (M,), the NCE noise distribution."""
        return torch.as_tensor(self._counts)

    @property
    def field_offsets(self) -> list[int]:
        """Id of each field's unknown feature; the field's values follow it."""
        return list(self._offsets)

    @property
    def field_sizes(self) -> list[int]:
        """Number of ids of each field, its unknown id included."""
        return [1 + len(v) for v in self._vocab]

    def unknown_feature_id(self, field: str | int) -> int:
        return self._offsets[self._field_index(field)]

    def feature_to_field(self) -> torch.Tensor:
        """Field index of every feature id (M,); -1 for <PAD> and <MASK>."""
        out = torch.full((self._vocab_size,), -1, dtype=torch.long)
        for f, (off, size) in enumerate(zip(self._offsets, self.field_sizes)):
            out[off : off + size] = f
        return out

    def id_to_value(self, feature_id: int) -> tuple[str, str]:
        """(field name, value text) of a feature id."""
        if feature_id in (PAD_ID, MASK_ID):
            return ("", "<PAD>" if feature_id == PAD_ID else "<MASK>")
        f = int(np.searchsorted(self._offsets, feature_id, side="right") - 1)
        pos = feature_id - self._offsets[f]
        if not 0 <= pos <= len(self._vocab[f]):
            raise IndexError(f"feature id {feature_id} is outside [0, {self._vocab_size}).")
        return self.field_names[f], UNKNOWN_TEXT if pos == 0 else self._vocab[f][pos - 1]

    def _field_index(self, field: str | int) -> int:
        if isinstance(field, int):
            return field
        try:
            return self.field_names.index(field)
        except ValueError:
            raise KeyError(f"Unknown field {field!r}; fields are {self.field_names}.") from None

    def __len__(self) -> int:
        return self._vocab_size

    def __repr__(self) -> str:
        return (
            f"FlipTabularTokenizer(num_fields={self.num_fields}, feature_vocab_size={self._vocab_size}, "
            f"fields={self.field_names}, text_tokenizer={type(self.text_tokenizer).__name__})"
        )

    # ------------------------------------------------------------------ tabular view
    def _lookup(self, f: int, column: Sequence[Any]) -> tuple[list[int], list[str | None]]:
        table, unk = self._value_to_id[f], self._offsets[f]
        unseen = MASK_ID if self.unseen_id == "mask" else unk
        texts = cells_to_text(column)
        return [table.get(t, unseen) if t is not None else unk for t in texts], texts

    def encode_features(self, rows: Any) -> torch.Tensor:
        """Feature ids only (B, F) int64: the cheap path for ID-only models."""
        return _rows_tensor(self._field_ids(self._check_columns(rows_to_columns(rows))))

    def _field_ids(self, columns: Mapping[str, Sequence[Any]]) -> list[list[int]]:
        """Per field (columns, not rows): the feature ids."""
        return [self._lookup(f, columns[name])[0] for f, name in enumerate(self.field_names)]

    def field_columns(self, rows: Any) -> dict[str, list[Any]]:
        """The field columns of ``rows`` (any row format `__call__` takes), checked: a KeyError names
        the missing fields, a ValueError columns of unequal lengths or an empty batch. Other keys
        (a label, extra columns) are left out."""
        columns = self._check_columns(rows_to_columns(rows))
        return {name: list(columns[name]) for name in self.field_names}

    def _check_columns(self, columns: Mapping[str, Sequence[Any]]) -> Mapping[str, Sequence[Any]]:
        missing = [f for f in self.field_names if f not in columns]
        if missing:
            raise KeyError(
                f"Missing column(s) {missing}: this tokenizer was fitted on fields {self.field_names}, "
                f"the rows have {list(columns)}."
            )
        lengths = {len(columns[f]) for f in self.field_names}
        if len(lengths) != 1:
            raise ValueError(f"Field columns have different lengths: {sorted(lengths)}.")
        if lengths == {0}:
            raise ValueError("FlipTabularTokenizer got an empty batch of rows.")
        return columns

    # ------------------------------------------------------------------ text view
    def prompt(self, row: Mapping[str, Any]) -> str:
        """The text view of one row as a string: missing values (and, under ``unseen_text="unknown"``,
        unseen ones) read "unknown"."""
        _, texts = self._row_texts(self._check_columns(rows_to_columns([dict(row)])))
        return self.prompt_encoder.prompt([column[0] for column in texts])

    def value_texts(self, rows: Any) -> list[list[str]]:
        """Per row, the text of each field's value as the text view writes it (missing values, and
        under ``unseen_text="unknown"`` unseen ones, read "unknown"); for other prompt formats."""
        _, texts = self._row_texts(self._check_columns(rows_to_columns(rows)))
        return [list(row) for row in zip(*texts)]

    def _row_texts(self, columns: Mapping[str, Sequence[Any]]) -> tuple[list[list[int]], list[list[str]]]:
        """Per field (columns, not rows): the feature ids and the value texts of the text view."""
        ids, texts, keep = [], [], self.unseen_text == "value"  # keep the raw text of unseen values
        for f, name in enumerate(self.field_names):
            col_ids, col_texts = self._lookup(f, columns[name])
            known = self._value_to_id[f]
            col_texts = [t if t is not None and (keep or t in known) else UNKNOWN_TEXT for t in col_texts]
            ids.append(col_ids)
            texts.append(col_texts)
        return ids, texts

    # ------------------------------------------------------------------ __call__
    def __call__(
        self,
        rows: Any,
        text: bool = True,
        padding: bool | str = False,
        truncation: bool = True,
        max_length: int | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Encode rows into ``feature_ids`` (B x F) and, with ``text=True``, ``input_ids``,
        ``attention_mask`` and ``token_field_ids`` (B x L). A ``label`` column passes through.

        ``padding``: False or "do_not_pad" (lists of different lengths, for `Dataset.map` + a
        collator), True or "longest", or "max_length". ``return_tensors="pt"`` needs padding when lengths differ.
        """
        if return_tensors not in (None, "pt"):
            raise ValueError("return_tensors must be None or 'pt'.")
        columns = self._check_columns(rows_to_columns(rows))
        ids, texts = self._row_texts(columns) if text else (self._field_ids(columns), None)
        data: dict[str, Any] = {
            "feature_ids": _rows_tensor(ids) if return_tensors == "pt" else [list(r) for r in zip(*ids)]
        }
        batch = len(data["feature_ids"])
        if text:
            input_ids, field_ids = self.prompt_encoder.encode(
                [list(r) for r in zip(*texts)], max_length=(max_length or self.max_length) if truncation else None
            )
            data["input_ids"] = input_ids
            data["attention_mask"] = [[1] * len(x) for x in input_ids]
            data["token_field_ids"] = field_ids
            padding = getattr(padding, "value", padding)  # transformers' PaddingStrategy
            if padding and padding != "do_not_pad":
                target = (max_length or self.max_length) if padding == "max_length" else max(map(len, input_ids))
                pad = self.text_tokenizer.pad_token_id or 0
                for key, value in (("input_ids", pad), ("attention_mask", 0), ("token_field_ids", -1)):
                    data[key] = [x + [value] * (target - len(x)) for x in data[key]]
        if LABEL_COLUMN in columns and LABEL_COLUMN not in self.field_names:
            data[LABEL_COLUMN] = list(columns[LABEL_COLUMN])
        assert all(len(v) == batch for v in data.values())
        return BatchEncoding(data, tensor_type=return_tensors)

    def decode_field_values(self, input_ids: Sequence[int], token_field_ids: Sequence[int]) -> dict[str, str]:
        """Decode the value tokens of each field back to text (for inspection and tests)."""
        return {
            name: self.text_tokenizer.decode([t for t, m in zip(input_ids, token_field_ids) if m == f]).strip()
            for f, name in enumerate(self.field_names)
        }

    # ------------------------------------------------------------------ datasets
    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the encoding (for `datasets` map caching)."""
        state = self.to_dict()
        state.pop("counts")
        state.pop("unknown_counts")
        text = self.text_tokenizer
        backend = getattr(text, "backend_tokenizer", None)
        # The serialized Rust tokenizer (normalizer, pre-tokenizer, model, added tokens): two
        # tokenizers loaded from one path with different options (do_lower_case=False) differ.
        definition = _hash(backend.to_str()) if backend is not None else text.name_or_path
        frame = [self.prompt_encoder.prefix_ids, self.prompt_encoder.suffix_ids]
        state["text"] = [type(text).__name__, definition, len(text), *frame]
        return _hash(json.dumps(state, sort_keys=True, ensure_ascii=False))

    def encode_dataset(self, dataset: Any, text: bool = True, batch_size: int = 10_000, num_proc: int | None = None):
        """Encode a `datasets.Dataset` or `DatasetDict` with `Dataset.map` (batched, Arrow-cached).

        Field columns are replaced by ``feature_ids`` (+ the text keys when ``text``); ``label`` stays.
        A rerun with the same data and tokenizer reloads the cached encoding.
        """
        import datasets

        if isinstance(dataset, datasets.DatasetDict):
            return datasets.DatasetDict(
                {k: self.encode_dataset(v, text, batch_size, num_proc) for k, v in dataset.items()}
            )
        self._check_columns({c: [None] for c in dataset.column_names})
        if len(dataset) == 0:
            raise ValueError("Cannot encode an empty split.")
        remove = [c for c in dataset.column_names if c != LABEL_COLUMN]
        return dataset.map(
            lambda batch: dict(self(batch, text=text)),
            batched=True,
            batch_size=batch_size,
            num_proc=num_proc,
            remove_columns=remove,
            new_fingerprint=_hash(f"{dataset._fingerprint}-flip-{self.fingerprint}-{int(text)}-{batch_size}"),
            desc="FLIP encoding" + (" (tabular + text)" if text else " (tabular)"),
        )

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tokenizer_class": type(self).__name__,
            "field_names": self.field_names,
            "vocabularies": {n: self._vocab[f] for f, n in enumerate(self.field_names)},
            "counts": {
                n: self._counts[self._offsets[f] + 1 : self._offsets[f] + self.field_sizes[f]].tolist()
                for f, n in enumerate(self.field_names)
            },
            "unknown_counts": {n: int(self._counts[self._offsets[f]]) for f, n in enumerate(self.field_names)},
            "max_length": self.max_length,
            "unseen_text": self.unseen_text,
            "unseen_id": self.unseen_id,
            "feature_vocab_size": self._vocab_size,
            "special_ids": {"pad": PAD_ID, "mask": MASK_ID},
        }
