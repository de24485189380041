"""Locating a data set's raw files (in a folder, in a zip archive, or in a folder holding either) and
reading them with errors that name the file, and the line where there is one."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from .protocol import DataProtocolError

__all__ = [
    "FileSource",
    "check_separators",
    "csv_row_problem",
    "decode_text",
    "find_in_zip",
    "find_source",
    "first_bad_line",
    "missing_note",
    "read_file_bytes",
    "read_parquet_file",
]


def read_file_bytes(path: str | os.PathLike, where: str | None = None) -> bytes:
    """The bytes of a file; a DataProtocolError naming it when it is empty or holds only blank lines."""
    with open(path, "rb") as fh:
        data = fh.read()
    return _not_empty(data, where or str(path))


def read_parquet_file(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """`pandas.read_parquet`; a DataProtocolError naming the file when it is empty or not Parquet."""
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DataProtocolError(f"{path} is empty")
    try:
        return pd.read_parquet(path, **kwargs)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise DataProtocolError(f"{path} is not a readable Parquet file ({type(err).__name__}: {err})") from None


def _not_empty(data: bytes, where: str) -> bytes:
    if not data.strip():
        raise DataProtocolError(f"{where} is empty")
    return data


def decode_text(data: bytes, encoding: str, where: str, utf8_is_wrong: bool = False) -> str:
    """``data`` decoded with ``encoding``. A DataProtocolError names ``where`` and the line when the
    bytes hold a NUL (UTF-16/32 or binary, not text), are not valid ``encoding``, or, with
    ``utf8_is_wrong`` (for files that must be latin-1), are UTF-8 with non-ASCII characters (a
    re-encoded copy, which latin-1 would silently misread)."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DataProtocolError(f"{where}, line {line}: NUL byte; the file is not {encoding} text (UTF-16? binary?)")
    if utf8_is_wrong and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            first = next(i for i, b in enumerate(data) if b > 127)
            line = data.count(b"\n", 0, first) + 1
            raise DataProtocolError(
                f"{where}, line {line}: the file is UTF-8 encoded, but this data set's files are {encoding}; "
                "use the original files"
            )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataProtocolError(
            f"{where}, line {line}: not valid {encoding} ({err.reason}, byte {data[err.start : err.start + 1]!r})"
        ) from None


def check_separators(data: bytes, sep: bytes, count: int, where: str, expected: str) -> None:
    """A DataProtocolError naming ``where`` and the first non-blank line of ``data`` that does not
    hold exactly ``count`` one-byte separators ``sep`` (for files without quoting); ``expected``
    says what a line should hold."""
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == ord("\n"))
    if len(arr) and arr[-1] != ord("\n"):
        ends = np.append(ends, len(arr))
    seps = np.bincount(np.searchsorted(ends, np.flatnonzero(arr == sep[0])), minlength=len(ends))
    for i in np.flatnonzero(seps != count):
        start = int(ends[i - 1]) + 1 if i else 0
        line = data[start : int(ends[i])]
        if line.strip():
            text = line.decode("latin-1").rstrip("\r")
            raise DataProtocolError(f"{where}, line {i + 1}: expected {expected}, got {text[:200]!r}")


def first_bad_line(text: str, problem: Callable[[str], str | None], where: str) -> DataProtocolError | None:
    """A DataProtocolError naming ``where`` and the first non-blank line of ``text`` for which
    ``problem(line)`` gives a reason, or None when every line is fine."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            reason = problem(line)
            if reason:
                return DataProtocolError(f"{where}, line {number}: {reason}: {line[:200]!r}")
    return None


def csv_row_problem(
    text: str, sep: str, where: str, quotechar: str = '"', escapechar: str | None = None
) -> DataProtocolError | None:
    """A DataProtocolError naming ``where`` and the line of the first CSV record whose field count
    differs from the header's (pandas pads short rows with missing values silently), or None."""
    reader = csv.reader(io.StringIO(text), delimiter=sep, quotechar=quotechar, escapechar=escapechar)
    header = next((row for row in reader if row), None)
    if header is None:
        return None
    for row in reader:
        if row and len(row) != len(header):
            return DataProtocolError(
                f"{where}, line {reader.line_num}: expected {len(header)} {sep!r}-separated values (as in the "
                f"header), got {len(row)}: {sep.join(row)[:200]!r}"
            )
    return None


@dataclass
class FileSource:
    """A set of named files inside a folder (`kind="dir"`) or a zip archive (`kind="zip"`).

    `path` is the folder or the zip file; `members` maps each logical file name to its path
    (folder) or member name (zip).
    """

    kind: str
    path: Path
    members: dict[str, Path | str]

    def open(self, name: str) -> BinaryIO:
        """A binary file object for `name`."""
        if self.kind == "dir":
            return open(self.members[name], "rb")
        with zipfile.ZipFile(self.path) as zf:
            return io.BytesIO(zf.read(self.members[name]))

    def describe(self, name: str) -> str:
        """Where ``name`` is, for messages: its path, or ``archive.zip:member``."""
        return str(self.members[name]) if self.kind == "dir" else f"{self.path}:{self.members[name]}"

    def read_bytes(self, name: str) -> bytes:
        """The content of ``name``; a DataProtocolError naming it when it is empty."""
        with self.open(name) as f:
            return _not_empty(f.read(), self.describe(name))

    def has(self, name: str) -> bool:
        """Whether the (optional) file `name` was found."""
        return name in self.members

    def read_text(self, name: str, encoding: str, utf8_is_wrong: bool = False) -> str:
        """The whole content of `name` decoded with `encoding` (checked: see `decode_text`)."""
        return decode_text(self.read_bytes(name), encoding, self.describe(name), utf8_is_wrong)

    def fingerprint_files(self) -> list[Path]:
        """The files on disk whose fingerprint keys the cache: the zip, or every member file."""
        if self.kind == "zip":
            return [self.path]
        return [Path(p) for p in self.members.values()]


def missing_note(data_dir: str | os.PathLike, required: Sequence[str]) -> str:
    """For a not-found message: which of ``required`` a folder that holds some of them lacks."""
    p = Path(data_dir).expanduser()
    missing = [str(p / r) for r in required if not (p / r).is_file()] if p.is_dir() else []
    return f" ({', '.join(missing)} missing)" if 0 < len(missing) < len(required) else ""


def find_in_zip(zpath: Path, required: Sequence[str], optional: Sequence[str] = ()) -> FileSource | None:
    """The members of `zpath` whose base names are `required` (plus the `optional` ones found),
    or None when one of `required` is missing. The shallowest match wins."""
    try:
        with zipfile.ZipFile(zpath) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile as e:
        raise DataProtocolError(f"{zpath} is not a valid zip file: {e}") from e
    members = {}
    for want in list(required) + list(optional):
        hits = sorted((n for n in names if n.rsplit("/", 1)[-1] == want), key=len)
        if hits:
            members[want] = hits[0]
    if all(r in members for r in required):
        return FileSource("zip", Path(zpath), members)
    return None


def find_source(
    data_dir: str | os.PathLike,
    required: Sequence[str],
    optional: Sequence[str] = (),
    subdirs: Sequence[str] = (),
    zip_names: Sequence[str] = (),
) -> FileSource | None:
    """Locate the `required` files: `data_dir` itself holds them, or it is a zip holding them, or
    it contains one of `subdirs` / `zip_names` that does. None when they are nowhere; raises
    `FileNotFoundError` when `data_dir` does not exist."""
    p = Path(data_dir).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data_dir {str(p)!r} does not exist")
    if p.is_file():
        if zipfile.is_zipfile(p):
            return find_in_zip(p.resolve(), required, optional)
        return None
    if all((p / r).is_file() for r in required):
        members = {r: (p / r).resolve() for r in list(required) + list(optional) if (p / r).is_file()}
        return FileSource("dir", p.resolve(), members)
    for sub in subdirs:
        if (p / sub).is_dir():
            found = find_source(p / sub, required, optional, (), zip_names)
            if found is not None:
                return found
    for zn in zip_names:
        if (p / zn).is_file():
            found = find_in_zip((p / zn).resolve(), required, optional)
            if found is not None:
                return found
    return None
