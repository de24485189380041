"""What a table row is, for every part of flip_hf: the label column's name, the input shapes
rows may come in, and how one cell becomes the text of a field value (paper Section III-A:
each field is read as ``"<field> is <value>."``). Data loaders and the tokenizer both use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LABEL_COLUMN = "label"
"""The 0/1 click column of every data set."""


def cell_to_text(value: Any) -> str | None:
    """The text of one cell, or None when it is missing.

    None, NaN/NA and empty (or whitespace-only) strings are missing. Integers and integral
    floats become ``"3"``, other floats their shortest repr, booleans ``"True"``/``"False"``,
    bytes are decoded as UTF-8; everything else is ``str(value)``. Text is stripped.
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
    elif not isinstance(value, str):
        try:
            import pandas as pd

            if pd.isna(value) is True:  # pd.NA, NaT
                return None
        except (TypeError, ValueError):
            pass
        value = str(value)
    text = value.strip()
    return text or None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bytes, int, float, type(None), np.generic))


def rows_to_columns(rows: Any) -> dict[str, Sequence[Any]]:
    """Rows as a dict of column lists. Accepts a dict of lists, a list of dicts, one row as a
    dict of scalars, or a pandas DataFrame. Raises ValueError/TypeError naming the problem."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # pandas DataFrame
        return {str(c): rows[c].tolist() for c in rows.columns}
    if isinstance(rows, Mapping):
        values = list(rows.values())
        if values and all(_is_scalar(v) for v in values):
            return {k: [v] for k, v in rows.items()}  # one row given as a dict
        return dict(rows)
    if isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        rows = list(rows)
        if not rows:
            raise ValueError("Got an empty batch of rows.")
        if not all(isinstance(r, Mapping) for r in rows):
            raise TypeError("Rows must be a dict of lists, a list of dicts or a DataFrame.")
        keys = list(dict.fromkeys(k for r in rows for k in r))
        return {k: [r.get(k) for r in rows] for k in keys}
    raise TypeError(
        f"Cannot read rows of type {type(rows).__name__}: pass a dict of lists, a list of dicts or a DataFrame."
    )


__all__ = ["LABEL_COLUMN", "cell_to_text", "rows_to_columns"]
