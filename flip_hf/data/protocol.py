"""The data protocol shared by every loader (paper Section V-A1).

Every loader in `flip_hf.data` produces the same thing: a `datasets.DatasetDict` with the
splits `train` and `test`, one `string` column per field (in field order; the column name
*is* the field's human text name, e.g. `"zip code"`) and an `int64` column `label` holding
0/1. Field values are human text; a missing value is None (never `"nan"` and never `""`).

The protocol:

1. label each interaction with a per-data-set rule (`binary_labels`), dropping the rows the
   rule says to drop (MovieLens: rating 3);
2. sort STABLY by time (rows with equal timestamps keep their file order); a data set
   without timestamps keeps its file order;
3. the first `floor(N * (1 - test_size))` rows are `train`, the rest `test`
   (`test_size=0.1`: first 90% / last 10%);
4. optionally (`carve_validation`), the last `validation_size` share of `train`, by the same
   rule, becomes a `validation` split.

Caching lives in `flip_hf.data.cache`, locating raw files in `flip_hf.data.sources`.
"""

from __future__ import annotations

import numbers
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import LABEL_COLUMN, cells_to_text

__all__ = [
    "DataProtocolError",
    "binary_labels",
    "coerce_binary_labels",
    "to_text",
    "check_fraction",
    "n_train_rows",
    "require_columns",
    "dataset_features",
    "frame_to_dataset",
    "columns_to_dataset_dict",
    "build_dataset_dict",
    "carve_validation",
]


class DataProtocolError(ValueError):
    """Raised when data does not satisfy the protocol (missing columns, empty splits, labels
    that are not 0/1, ...)."""


# --------------------------------------------------------------------------
# labelling
# --------------------------------------------------------------------------
def binary_labels(
    values: pd.Series | np.ndarray | Sequence,
    positive_above: float,
    negative_below: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Threshold labels (MovieLens: `(3, 3)`, BookCrossing: `(5, None)`).

    `label = 1` where `value > positive_above`. With `negative_below` given, `label = 0` only
    where `value < negative_below` and the rows in between are dropped; without it every other
    row is a negative.

    Returns `(labels, keep)`: int64 labels and a bool mask of the rows to keep, over all input rows.
    """
    v = pd.to_numeric(pd.Series(np.asarray(values)), errors="coerce").to_numpy(dtype="float64")
    if np.isnan(v).any():
        bad = int(np.isnan(v).sum())
        raise DataProtocolError(f"{bad} rating/label value(s) are missing or not numeric")
    pos = v > positive_above
    if negative_below is None:
        keep = np.ones(len(v), dtype=bool)
    else:
        keep = pos | (v < negative_below)
    return pos.astype("int64"), keep


def coerce_binary_labels(values, name: str = "data set") -> np.ndarray:
    """`values` as int64 when they are 0/1 (ints, floats 0.0/1.0, bools or the strings "0"/"1");
    otherwise a `DataProtocolError` that shows the offending values."""
    s = pd.Series(values)
    if s.dtype == bool:
        return s.to_numpy(dtype="int64")
    num = pd.to_numeric(s, errors="coerce")
    ok = num.isin([0, 1])
    if not ok.all():
        bad = s[~ok]
        uniq = pd.unique(bad.astype(object))
        shown = ", ".join(repr(x) for x in uniq[:10])
        more = f" (and {len(uniq) - 10} more)" if len(uniq) > 10 else ""
        raise DataProtocolError(
            f"{name}: labels must be binary (0/1) but {len(bad)} row(s) have other values: "
            f"{shown}{more}. Pass label_threshold=... to binarise a rating column."
        )
    return num.to_numpy(dtype="int64")


# --------------------------------------------------------------------------
# values as text
# --------------------------------------------------------------------------
def to_text(values: pd.Series | Sequence) -> pd.Series:
    """A column as text values: an `object` Series (index kept) of `str` or None.

    Every cell becomes `flip_hf.schema.cell_to_text(cell)` (through `cells_to_text`): `3` and `3.0` -> `"3"`, `2.5` ->
    `"2.5"`, `True` -> `"True"`, text stripped; None, NaN/NA and empty strings -> None.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    cells = s.tolist()
    # Fast paths, equal to cell_to_text on these cells: Python ints and plain strings.
    if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
        text = [str(v) for v in cells]
    elif all(type(v) is str for v in cells):
        text = [v.strip() or None for v in cells]
    else:
        text = cells_to_text(cells)
    return pd.Series(text, index=s.index, dtype=object)


# --------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------
def check_fraction(value, name: str) -> None:
    """Raise a `ValueError` naming `name` unless `value` is a real number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a float in (0, 1), got {value!r}")


def n_train_rows(n: int, test_size: float = 0.1) -> int:
    """`floor(n * (1 - test_size))`, computed exactly (decimal arithmetic)."""
    check_fraction(test_size, "test_size")
    return int((Decimal(n) * (Decimal(1) - Decimal(str(test_size)))) // 1)


def carve_validation(dd: datasets.DatasetDict, validation_size: float) -> datasets.DatasetDict:
    """Split the last `validation_size` share of `train` off as a `validation` split.

    `train` is in time order, so this is the protocol's own split applied once more: `train`
    keeps its first `floor(n_train * (1 - validation_size))` rows and `validation` gets the rest.
    `test` (and any other split) is returned untouched. The result's splits are `train`,
    `validation`, then the others; the new splits share the original one's Arrow data.
    """
    check_fraction(validation_size, "validation_size")
    if "train" not in dd:
        raise DataProtocolError(f"no 'train' split to take a validation split from (splits: {list(dd)})")
    if "validation" in dd:
        raise DataProtocolError("the data set already has a 'validation' split; leave validation_size=None")
    train = dd["train"]
    n = train.num_rows
    n_keep = n_train_rows(n, validation_size)
    if n_keep == 0 or n_keep == n:
        empty = "train" if n_keep == 0 else "validation"
        raise DataProtocolError(
            f"validation_size={validation_size} leaves the {empty!r} split empty "
            f"(the train split has {n} row(s)); use another validation_size or more data"
        )
    out = {"train": train.select(range(n_keep)), "validation": train.select(range(n_keep, n))}
    out.update((k, v) for k, v in dd.items() if k != "train")
    return datasets.DatasetDict(out)


# --------------------------------------------------------------------------
# checks + conversion
# --------------------------------------------------------------------------
def require_columns(df: pd.DataFrame, columns: Iterable[str], name: str = "data set") -> None:
    """Raise a `DataProtocolError` listing the `columns` that `df` lacks, if any."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataProtocolError(
            f"{name}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"available columns: {list(map(str, df.columns))}"
        )


def dataset_features(field_names: Sequence[str]) -> datasets.Features:
    """The protocol's features: a `string` column per field, then the `int64` label column."""
    feats = {f: datasets.Value("string") for f in field_names}
    feats[LABEL_COLUMN] = datasets.Value("int64")
    return datasets.Features(feats)


def _check_field_names(field_names: Sequence[str], name: str) -> None:
    if len(field_names) == 0:
        raise DataProtocolError(f"{name}: no field columns")
    seen = set()
    for f in field_names:
        if not isinstance(f, str) or not f:
            raise DataProtocolError(f"{name}: field names must be non-empty strings, got {f!r}")
        if f == LABEL_COLUMN:
            raise DataProtocolError(f"{name}: a field may not be named {LABEL_COLUMN!r}")
        if f in seen:
            raise DataProtocolError(f"{name}: duplicate field name {f!r}")
        seen.add(f)


def _text_array(values, already_text: bool = False) -> pa.Array:
    """A column as an Arrow `string` array with nulls for missing values; empty strings become
    null too."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = values
        if not pa.types.is_string(arr.type):
            arr = pc.cast(arr, pa.string())
    else:
        if not already_text:
            values = to_text(values)
        if isinstance(values, pd.Series):
            values = values.to_numpy(dtype=object)
        arr = pa.array(values, type=pa.string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    empty = pc.equal(arr, "")
    if pc.any(empty).as_py():
        arr = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    return arr


def _make_dataset(table: pa.Table, field_names: Sequence[str], name: str, split: str) -> datasets.Dataset:
    features = dataset_features(field_names)
    table = table.cast(features.arrow_schema)
    info = datasets.DatasetInfo(features=features, dataset_name=re.sub(r"[^A-Za-z0-9_-]+", "_", name))
    # an explicit fingerprint spares datasets from hashing the whole table
    return datasets.Dataset(table, info=info, split=datasets.NamedSplit(split), fingerprint=uuid.uuid4().hex)


def columns_to_dataset_dict(
    columns: Mapping[str, object],
    labels,
    field_names: Sequence[str] | None = None,
    time=None,
    test_size: float = 0.1,
    name: str = "data set",
    already_text: bool = False,
) -> datasets.DatasetDict:
    """The core of the protocol on ready columns.

    `columns`: field name -> values (Arrow array, pandas Series, numpy array or list), in field
    order; `labels`: 0/1 values; `time`: sort key (numpy-sortable) or None for file order.
    Stable sort by `time`, then the first `floor(N * (1 - test_size))` rows are `train` and the
    rest `test`. `already_text=True` skips `to_text` for columns that are text already.
    """
    field_names = list(field_names) if field_names is not None else list(columns)
    _check_field_names(field_names, name)
    arrays = [_text_array(columns[c], already_text) for c in columns]
    if len(arrays) != len(field_names):
        raise DataProtocolError(f"{name}: {len(arrays)} field columns but {len(field_names)} field names")
    n = len(labels)
    if n == 0:
        raise DataProtocolError(f"{name}: the data is empty (no samples after labelling/filtering)")
    for f, a in zip(field_names, arrays):
        if len(a) != n:
            raise DataProtocolError(f"{name}: field {f!r} has {len(a)} values but there are {n} labels")
    y = coerce_binary_labels(labels, name)
    table = pa.Table.from_arrays(arrays + [pa.array(y, type=pa.int64())], names=field_names + [LABEL_COLUMN])
    if time is not None:
        t = time.to_numpy() if isinstance(time, (pd.Series, pd.Index)) else np.asarray(time)
        if len(t) != n:
            raise DataProtocolError(f"{name}: {len(t)} time values but {n} samples")
        order = np.argsort(t, kind="stable")
        table = table.take(pa.array(order))
    n_train = n_train_rows(n, test_size)
    if n_train == 0 or n_train == n:
        empty = "train" if n_train == 0 else "test"
        raise DataProtocolError(
            f"{name}: the {empty!r} split is empty ({n} sample(s), test_size={test_size}); more data is needed"
        )
    return datasets.DatasetDict(
        {
            "train": _make_dataset(table.slice(0, n_train), field_names, name, "train"),
            "test": _make_dataset(table.slice(n_train), field_names, name, "test"),
        }
    )


def frame_to_dataset(
    df: pd.DataFrame,
    field_columns: Sequence[str],
    label_column: str = LABEL_COLUMN,
    field_names: Sequence[str] | None = None,
    name: str = "data set",
    split: str = "train",
    already_text: bool = False,
) -> datasets.Dataset:
    """A DataFrame as ONE Dataset with the protocol's schema (no split, no sort).

    `field_columns` are the DataFrame's columns, in field order; `field_names` the output column
    names (default: the same)."""
    field_names = list(field_names) if field_names is not None else list(field_columns)
    if len(field_names) != len(field_columns):
        raise DataProtocolError(f"{name}: {len(field_columns)} field columns but {len(field_names)} names")
    _check_field_names(field_names, name)
    require_columns(df, list(field_columns) + [label_column], f"{name} ({split} split)")
    if len(df) == 0:
        raise DataProtocolError(f"{name}: the {split!r} split is empty")
    labels = coerce_binary_labels(df[label_column].to_numpy(), f"{name} ({split} split)")
    arrays = [_text_array(df[c], already_text) for c in field_columns]
    table = pa.Table.from_arrays(arrays + [pa.array(labels, type=pa.int64())], names=field_names + [LABEL_COLUMN])
    return _make_dataset(table, field_names, name, split)


def build_dataset_dict(
    df: pd.DataFrame,
    field_columns: Sequence[str],
    label_column: str = LABEL_COLUMN,
    field_names: Sequence[str] | None = None,
    time_column: str | None = None,
    test_size: float = 0.1,
    name: str = "data set",
    already_text: bool = False,
) -> datasets.DatasetDict:
    """`columns_to_dataset_dict` on a DataFrame: stable sort by `time_column` (file order when
    None), then the train/test split, both splits converted to the protocol's schema."""
    cols = list(field_columns) + [label_column] + ([time_column] if time_column else [])
    require_columns(df, cols, name)
    if len(df) == 0:
        raise DataProtocolError(f"{name}: the data is empty (no samples after labelling/filtering)")
    field_names = list(field_names) if field_names is not None else list(field_columns)
    if len(field_names) != len(field_columns):
        raise DataProtocolError(f"{name}: {len(field_columns)} field columns but {len(field_names)} names")
    return columns_to_dataset_dict(
        {c: df[c] for c in field_columns},
        df[label_column].to_numpy(),
        field_names,
        time=df[time_column].to_numpy() if time_column else None,
        test_size=test_size,
        name=name,
        already_text=already_text,
    )
