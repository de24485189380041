"""Argument validation shared by the layers and models of the ID-model zoo."""

from __future__ import annotations

import operator
from collections.abc import Sequence

__all__ = ["check_int", "check_sizes", "check_dropout"]


def check_int(name: str, value, minimum: int) -> int:
    """`value` as an `int` (Python, NumPy or 0-d tensor integer, not `bool`), at least `minimum`."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_sizes(name: str, sizes: int | Sequence[int], allow_empty: bool = True) -> tuple[int, ...]:
    """Layer sizes as a tuple of positive ints (a single int is one layer)."""
    if isinstance(sizes, int):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {sizes!r}") from None
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(check_int(f"{name}[{i}]", s, 1) for i, s in enumerate(sizes))


def check_dropout(value: float, name: str = "dropout") -> float:
    """A dropout probability in `[0, 1)`."""
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value
