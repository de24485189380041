"""Locating a data set's raw files: in a folder, in a zip archive, or in a folder holding either."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .protocol import DataProtocolError

__all__ = ["FileSource", "find_in_zip", "find_source"]


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

    def has(self, name: str) -> bool:
        """Whether the (optional) file `name` was found."""
        return name in self.members

    def read_text(self, name: str, encoding: str) -> str:
        """The whole content of `name` decoded with `encoding`."""
        with self.open(name) as f:
            return f.read().decode(encoding)

    def fingerprint_files(self) -> list[Path]:
        """The files on disk whose fingerprint keys the cache: the zip, or every member file."""
        if self.kind == "zip":
            return [self.path]
        return [Path(p) for p in self.members.values()]


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
