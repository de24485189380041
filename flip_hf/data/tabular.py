"""Your own table (CSV or Parquet) as a CTR data set.

>>> load_ctr_dataset("csv", data_files="clicks.csv", label_column="clicked",
...                  time_column="ts", field_names={"uid": "user id"})
>>> load_ctr_dataset("parquet", data_files=["part-0.parquet", "part-1.parquet"],
...                  label_column="rating", label_threshold=3)

* `data_files`: a path, a list of paths (concatenated in the given order), or a dict
  `{"train": ..., "test": ...}` for a table that is already split (then no split is made;
  each split keeps its own order, or is stably sorted by `time_column`). Instead of
  `data_files` a `data_dir` (a file, or a folder whose `*.csv` / `*.parquet` files are taken
  in name order) may be given.
* `label_column`: the label. With `label_threshold` the label is `value > threshold`; without
  it the values must already be 0/1 (also `True`/`False` or `0.0`/`1.0`), otherwise an error
  lists the offending values.
* `time_column`: when given, rows are STABLY sorted by it (numbers, or dates/times that pandas
  can parse, else text order); when None the file order is the time order. The time column
  is not a field.
* `field_columns`: the fields, in order (default: every column except the label and time
  columns, in file order). `field_names`: the fields' human text names, either a mapping
  `column -> name` (unmapped columns keep their column name) or a list parallel to
  `field_columns`. Names should be words ("user id", not "uid"): they go into the text
  template "<field name> is <value>." (paper Section III-A).
* `test_size`: the last `test_size` share of rows is the `test` split (default 0.1).

Values become text with `flip_hf.schema.cell_to_text`: integers `3` -> `"3"`, integral floats
`3.0` -> `"3"`, other floats their shortest repr, NaN/empty -> None. CSV fields are read as
text, so leading zeros survive (`"00501"`); a CSV column whose every value looks like an
integral float (`"3.0"`, as pandas writes an int column with missing values) is written as
integers (`"3"`).
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from ..schema import LABEL_COLUMN
from .cache import cached_build
from .protocol import (
    DataProtocolError,
    build_dataset_dict,
    coerce_binary_labels,
    frame_to_dataset,
    require_columns,
    to_text,
)
from .sources import csv_row_problem, decode_text, read_file_bytes, read_parquet_file

TABULAR_VERSION = "1"
_INTEGRAL_FLOAT = re.compile(r"^[+-]?\d+\.0*$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def _expand_files(data_files, data_dir, fmt: str) -> list[Path] | dict[str, list[Path]]:
    if data_files is None and data_dir is None:
        raise DataProtocolError(f"{fmt}: pass data_files= (a path, a list of paths, or {{'train':..., 'test':...}})")
    if data_files is None:
        p = Path(data_dir).expanduser()
        if p.is_dir():
            files = sorted(p.glob(f"*.{fmt}"))
            if not files:
                raise FileNotFoundError(f"{fmt}: no *.{fmt} files in {str(p)!r}")
            return files
        data_files = p
    if isinstance(data_files, Mapping):
        unknown = set(data_files) - {"train", "test"}
        if unknown or set(data_files) != {"train", "test"}:
            raise DataProtocolError(
                f"{fmt}: a data_files mapping must have exactly the keys 'train' and 'test', got {sorted(data_files)}"
            )
        return {k: _expand_files(v, None, fmt) for k, v in data_files.items()}
    if isinstance(data_files, (str, os.PathLike)):
        data_files = [data_files]
    files = [Path(f).expanduser() for f in data_files]
    if not files:
        raise DataProtocolError(f"{fmt}: data_files is empty")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{fmt}: data file {str(f)!r} does not exist")
    return files


_PLAIN_CSV_OPTIONS = {
    "sep", "delimiter", "quotechar", "escapechar", "encoding", "dtype", "na_values", "keep_default_na",
    "na_filter", "true_values", "false_values", "low_memory", "engine",
}  # fmt: skip
"""`read_kwargs` under which every CSV line is one record whose values the header counts."""


def _read_csv_file(path: Path, kw: Mapping) -> pd.DataFrame:
    kw = dict(kw)
    encoding = kw.pop("encoding", None) or "utf-8"
    data = read_file_bytes(path, f"csv: {path}")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]  # a byte-order mark is not part of the first column's name
    text = decode_text(data, encoding, f"csv: {path}")
    kw.setdefault("dtype", str)
    try:
        df = pd.read_csv(io.StringIO(text), **kw)
    except (ValueError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
        raise DataProtocolError(f"csv: {path}: {str(err).strip()}") from None
    sep = kw.get("sep", kw.get("delimiter", ","))
    if set(kw) <= _PLAIN_CSV_OPTIONS and isinstance(sep, str) and len(sep) == 1:
        bad = csv_row_problem(text, sep, f"csv: {path}", kw.get("quotechar", '"'), kw.get("escapechar"))
        if bad:
            raise bad
    return df


def _read(files: list[Path], fmt: str, read_kwargs: Mapping | None) -> pd.DataFrame:
    """The files' rows, concatenated; ``df.attrs["sources"]`` holds each file's path and row count."""
    kw = dict(read_kwargs or {})
    frames = []
    for f in files:
        frames.append(_read_csv_file(f, kw) if fmt == "csv" else read_parquet_file(f, **kw))
    if len(frames) == 1:
        df = frames[0]
    else:
        cols = list(frames[0].columns)
        for f, fr in zip(files[1:], frames[1:]):
            if list(fr.columns) != cols:
                raise DataProtocolError(
                    f"{fmt}: {str(f)!r} has columns {list(fr.columns)} but {str(files[0])!r} has {cols}"
                )
        df = pd.concat(frames, ignore_index=True)
    df.columns = [str(c) for c in df.columns]
    df.attrs["sources"] = [(str(f), len(fr)) for f, fr in zip(files, frames)]
    return df


def _where(fmt: str, files: Sequence[Path]) -> str:
    """The files, for messages."""
    return f"{fmt} file {files[0]}" if len(files) == 1 else f"{fmt} files {', '.join(map(str, files))}"


def _row_place(df: pd.DataFrame, row: int) -> str:
    """Which file, and which data row of it (1-based, header not counted), row ``row`` of ``df`` came from."""
    start = 0
    for path, count in df.attrs.get("sources", []):
        if row < start + count:
            return f"{path}, data row {row - start + 1}"
        start += count
    return f"data row {row + 1}"


def _csv_column_text(s: pd.Series) -> pd.Series:
    out = to_text(s)
    vals = out[out.notna()]
    if len(vals):
        is_float = vals.str.match(_INTEGRAL_FLOAT)
        if is_float.any() and (is_float | vals.str.match(_INTEGER)).all():
            out[out.notna()] = [str(int(float(v))) for v in vals]
    return out


def _time_key(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s
    num = pd.to_numeric(s, errors="coerce")
    if num.notna().sum() == s.notna().sum():
        return num
    try:
        dt = pd.to_datetime(s, errors="coerce", format="mixed")
        if dt.notna().sum() == s.notna().sum():
            return dt
    except (ValueError, TypeError):
        pass
    return s.astype(object).where(s.notna(), None).map(lambda x: "" if x is None else str(x))


def _labels(df: pd.DataFrame, label_column: str, label_threshold, name: str) -> np.ndarray:
    raw = df[label_column]
    if raw.isna().any():
        raise DataProtocolError(
            f"{name}: {int(raw.isna().sum())} row(s) have no value in label column {label_column!r} "
            f"(first: {_row_place(df, int(raw.isna().to_numpy().argmax()))})"
        )
    if label_threshold is None:
        try:
            return coerce_binary_labels(raw.to_numpy(), f"{name} (label column {label_column!r})")
        except DataProtocolError as err:
            first = int((~pd.to_numeric(raw, errors="coerce").isin([0, 1])).to_numpy().argmax())
            raise DataProtocolError(f"{err} First: {_row_place(df, first)}.") from None
    num = pd.to_numeric(raw, errors="coerce")
    if num.isna().any():
        bad = pd.unique(raw[num.isna()].astype(object))[:10]
        raise DataProtocolError(
            f"{name}: label column {label_column!r} must be numeric to apply label_threshold, "
            f"got {', '.join(repr(x) for x in bad)} (first: {_row_place(df, int(num.isna().to_numpy().argmax()))})"
        )
    return (num.to_numpy(dtype="float64") > float(label_threshold)).astype("int64")


def _prepare(
    df: pd.DataFrame,
    fmt: str,
    label_column: str,
    time_column: str | None,
    label_threshold,
    field_columns,
    name: str,
):
    require_columns(df, [label_column] + ([time_column] if time_column else []), name)
    if field_columns is None:
        field_columns = [c for c in df.columns if c not in (label_column, time_column)]
    else:
        field_columns = [str(c) for c in field_columns]
        require_columns(df, field_columns, name)
        for c in field_columns:
            if c in (label_column, time_column):
                raise DataProtocolError(f"{name}: column {c!r} cannot be both a field and the label/time column")
    if not field_columns:
        raise DataProtocolError(f"{name}: no field columns (only the label/time columns were found)")
    if len(df) == 0:
        raise DataProtocolError(f"{name}: the data is empty (no rows)")
    conv = _csv_column_text if fmt == "csv" else to_text
    out = pd.DataFrame({f"f{i}": conv(df[c]).to_numpy(dtype=object) for i, c in enumerate(field_columns)})
    out["__label__"] = _labels(df, label_column, label_threshold, name)
    if time_column:
        out["__time__"] = _time_key(df[time_column]).to_numpy()
    return out, field_columns


def _field_names(field_columns: Sequence[str], field_names, name: str) -> list[str]:
    if field_names is None:
        return list(field_columns)
    if isinstance(field_names, Mapping):
        unknown = [k for k in field_names if str(k) not in field_columns]
        if unknown:
            raise DataProtocolError(f"{name}: field_names maps column(s) {unknown} that are not field columns")
        return [str(field_names.get(c, c)) for c in field_columns]
    names = [str(n) for n in field_names]
    if len(names) != len(field_columns):
        raise DataProtocolError(
            f"{name}: {len(field_columns)} field columns {list(field_columns)} but {len(names)} field_names"
        )
    return names


def load_table(
    fmt: str,
    data_dir=None,
    *,
    data_files=None,
    label_column: str = LABEL_COLUMN,
    time_column: str | None = None,
    label_threshold: float | None = None,
    field_columns: Sequence[str] | None = None,
    field_names: Mapping[str, str] | Sequence[str] | None = None,
    test_size: float = 0.1,
    read_kwargs: Mapping | None = None,
    cache_dir=None,
    use_cache: bool = True,
) -> datasets.DatasetDict:
    """Load a user table (`fmt` "csv" or "parquet"); see the module docstring."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    files = _expand_files(data_files, data_dir, fmt)
    presplit = isinstance(files, dict)
    all_files = files["train"] + files["test"] if presplit else files
    kwargs = dict(
        label_column=label_column,
        time_column=time_column,
        label_threshold=label_threshold,
        field_columns=list(field_columns) if field_columns is not None else None,
        field_names=dict(field_names)
        if isinstance(field_names, Mapping)
        else (list(field_names) if field_names is not None else None),
        test_size=test_size,
        read_kwargs=dict(read_kwargs or {}),
        presplit=presplit,
        files_order=[str(Path(f).resolve()) for f in all_files],
    )
    name = fmt

    def build():
        time_col = "__time__" if time_column else None
        if not presplit:
            where = _where(fmt, files)
            df, fcols = _prepare(
                _read(files, fmt, read_kwargs), fmt, label_column, time_column, label_threshold, field_columns, where
            )
            names = _field_names(fcols, field_names, where)
            return build_dataset_dict(
                df,
                [f"f{i}" for i in range(len(fcols))],
                "__label__",
                names,
                time_column=time_col,
                test_size=test_size,
                name=name,
                already_text=True,
            )
        out, first_cols = {}, None
        for split in ("train", "test"):
            df, fcols = _prepare(
                _read(files[split], fmt, read_kwargs),
                fmt,
                label_column,
                time_column,
                label_threshold,
                field_columns,
                f"{_where(fmt, files[split])} ({split} split)",
            )
            if first_cols is not None and fcols != first_cols:
                raise DataProtocolError(f"{name}: train fields {first_cols} differ from test fields {fcols}")
            first_cols = fcols
            if time_col:
                df = df.sort_values(time_col, kind="stable").reset_index(drop=True)
            out[split] = frame_to_dataset(
                df,
                [f"f{i}" for i in range(len(fcols))],
                "__label__",
                _field_names(fcols, field_names, name),
                name=name,
                split=split,
                already_text=True,
            )
        return datasets.DatasetDict(out)

    return cached_build(name, TABULAR_VERSION, all_files, kwargs, build, cache_dir=cache_dir, use_cache=use_cache)


def load_csv(data_dir=None, **kwargs) -> datasets.DatasetDict:
    """`load_ctr_dataset("csv", data_files=...)`; see `load_table`."""
    return load_table("csv", data_dir, **kwargs)


def load_parquet(data_dir=None, **kwargs) -> datasets.DatasetDict:
    """`load_ctr_dataset("parquet", data_files=...)`; see `load_table`."""
    return load_table("parquet", data_dir, **kwargs)
