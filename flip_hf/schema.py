"""What a table row is, for every part of flip_hf: the label column's name, the input shapes
rows may come in, and how one cell becomes the text of a field value (paper Section III-A:
each field is read as ``"<field> is <value>."``). Data loaders and the tokenizer both use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

import numpy as np

LABEL_COLUMN = "label"
"""The 0/1 click column of every data set."""


def cell_to_text(value: Any) -> str | None:
    """The text of one cell, or None when it is missing.

    None, NaN/NA (decimal NaNs included) and empty (or whitespace-only) strings are missing.
    Integers and integral floats become ``"3"``, other floats their shortest repr, booleans
    ``"True"``/``"False"``, bytes are decoded as UTF-8; everything else is ``str(value)``. Text is
    stripped; characters UTF-8 cannot hold (lone surrogates) become ``"?"``.
    """
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return None
        return str(int(value)) if math.isfinite(value) and value.is_integer() else repr(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif isinstance(value, Decimal):
        if value.is_nan():
            return None
        value = str(value)
    elif not isinstance(value, str):
        try:
            import pandas as pd

            if pd.isna(value) is True:  # pd.NA, NaT
                return None
        except (TypeError, ValueError, ArithmeticError):
            pass
        value = str(value)
    text = value.strip()
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: no tokenizer can read them
            text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text or None


_MEMO_TYPES = (str, int, float, bool, bytes, np.number, np.bool_)
"""Cell types whose equal values (of one type) have one text: `cells_to_text` converts each once.
Not Decimal (``Decimal("1.0") == Decimal("1.00")``, texts "1.0" and "1.00") nor arbitrary objects."""


def cells_to_text(cells: Iterable[Any]) -> list[str | None]:
    """`cell_to_text` of every cell, each distinct cell converted once: a column holds far fewer
    distinct values than cells (serving encodes 4,096 rows x 8 fields in ~1/4 of the per-cell time).
    Cells are told apart by type and value, as their texts are (``True`` is ``"True"``, ``1`` is
    ``"1"``); cells of other types than `_MEMO_TYPES` are converted one by one."""
    memo: dict[tuple[type, Any], str | None] = {}
    memo_type: dict[type, bool] = {}
    texts = []
    for value in cells:
        kind = value.__class__
        use_memo = memo_type.get(kind)
        if use_memo is None:
            use_memo = memo_type[kind] = issubclass(kind, _MEMO_TYPES)
        if not use_memo:
            texts.append(cell_to_text(value))
            continue
        key = (kind, value)
        text = memo.get(key, memo)  # the memo itself marks a miss (None is a text: missing)
        if text is memo:
            text = memo[key] = cell_to_text(value)
        texts.append(text)
    return texts


def _is_column(value: Any) -> bool:
    """Whether a dict value holds a column of cells (list, tuple, array, Series...) rather than one cell."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return False
    return hasattr(value, "__len__") and hasattr(value, "__iter__")


def _as_list(column: Any) -> list[Any]:
    if isinstance(column, list):
        return column
    return column.tolist() if hasattr(column, "tolist") else list(column)


def rows_to_columns(rows: Any) -> dict[str, list[Any]]:
    """Rows as a dict of column lists. Accepts a dict of lists (or arrays, Series), a list of dicts,
    one row as a dict of cells, or a pandas DataFrame. Raises ValueError/TypeError naming the problem."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas DataFrame
        names = [str(c) for c in rows.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"The DataFrame has duplicate column(s) {duplicated}.")
        return {name: rows.iloc[:, i].tolist() for i, name in enumerate(names)}
    if isinstance(rows, Mapping):
        columns = [k for k, v in rows.items() if _is_column(v)]
        if not columns:
            return {k: [v] for k, v in rows.items()}  # one row given as a dict
        cells = [k for k in rows if k not in columns]
        if cells:
            raise TypeError(
                f"A dict of rows must hold either one cell per key (one row) or one column per key; "
                f"{cells} hold single cells but {columns} hold columns."
            )
        return {k: _as_list(v) for k, v in rows.items()}
    if isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        rows = list(rows)
        if not rows:
            raise ValueError("Got an empty batch of rows.")
        if not all(isinstance(r, Mapping) for r in rows):
            raise TypeError("Rows must be a dict of lists, a list of dicts or a DataFrame.")
        return _transpose(rows)
    raise TypeError(
        f"Cannot read rows of type {type(rows).__name__}: pass a dict of lists, a list of dicts or a DataFrame."
    )


def _transpose(rows: list[Mapping]) -> dict[str, list[Any]]:
    """A list of dicts as columns; a key some rows lack is None there. Fast path (in C): every row
    has exactly the first row's keys."""
    keys = list(rows[0])
    if keys and all(len(r) == len(keys) for r in rows):
        try:
            cells = list(map(itemgetter(*keys), rows))
        except KeyError:  # same length, other keys
            pass
        else:
            if len(keys) == 1:
                return {keys[0]: cells}
            return {k: list(column) for k, column in zip(keys, zip(*cells))}
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return {k: [r.get(k) for r in rows] for k in keys}


__all__ = ["LABEL_COLUMN", "cell_to_text", "cells_to_text", "rows_to_columns"]
