"""Where flip_hf keeps data on disk, and the Arrow cache of processed data sets.

Processed data sets are saved with `save_to_disk` under `$FLIP_HF_CACHE/datasets` (default
`~/.cache/flip_hf/datasets`), keyed by the loader's name and version, a fingerprint of the
source files (absolute path, size, mtime) and the loader's keyword arguments. An entry is
written to a temporary sibling folder and renamed into place, so a crash never leaves a
half-written entry; temporary folders a killed process left behind are removed later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import datasets

logger = logging.getLogger(__name__)

STALE_TEMP_SECONDS = 6 * 3600
"""Age after which a leftover `.tmp-*` cache folder is considered abandoned."""

__all__ = [
    "STALE_TEMP_SECONDS",
    "flip_hf_cache_root",
    "default_dataset_cache_dir",
    "default_raw_cache_dir",
    "fingerprint_files",
    "make_world_readable",
    "cache_key",
    "cached_build",
]


def flip_hf_cache_root() -> Path:
    """Root of flip_hf's caches: `$FLIP_HF_CACHE` or `~/.cache/flip_hf`."""
    env = os.environ.get("FLIP_HF_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/flip_hf").expanduser()


def default_dataset_cache_dir() -> Path:
    """Where processed data sets are cached: `<cache root>/datasets`."""
    return flip_hf_cache_root() / "datasets"


def default_raw_cache_dir(name: str) -> Path:
    """Where raw files fetched by a loader are kept: `<cache root>/raw/<name>`."""
    return flip_hf_cache_root() / "raw" / name


def fingerprint_files(paths: Iterable[str | os.PathLike]) -> list[list]:
    """`[absolute path, size, mtime_ns]` for every source file."""
    fp = []
    for p in paths:
        p = Path(p).expanduser().resolve()
        st = p.stat()
        fp.append([str(p), int(st.st_size), int(st.st_mtime_ns)])
    return fp


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return str(Path(obj).expanduser().resolve())
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_world_readable(path: str | os.PathLike, directory: bool = False) -> None:
    """Give a file or folder made by `tempfile.mkstemp` / `tempfile.mkdtemp` (mode 0600 / 0700)
    the permissions the umask allows, like a normally created one."""
    try:
        os.chmod(path, (0o777 if directory else 0o666) & ~_current_umask())
    except OSError:
        pass


def cache_key(loader: str, version: str, files: Iterable[str | os.PathLike], kwargs: Mapping) -> str:
    """The cache entry's folder name: `<loader>-v<version>-<hash>`, the hash covering the source
    files' fingerprints, the keyword arguments and the `datasets` major version."""
    payload = {
        "loader": loader,
        "version": version,
        "files": fingerprint_files(files),
        "kwargs": _jsonable(dict(kwargs)),
        "datasets": datasets.__version__.split(".")[0],
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", loader)
    return f"{safe}-v{version}-{digest}"


def _remove_stale_temp_dirs(root: Path) -> None:
    """Remove temporary folders that a killed process left behind (older than `STALE_TEMP_SECONDS`)."""
    now = time.time()
    for p in root.glob(".tmp-*"):
        try:
            if now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


@contextlib.contextmanager
def _quiet_progress():
    was_enabled = not datasets.are_progress_bars_disabled()
    if was_enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def cached_build(
    loader: str,
    version: str,
    files: Sequence[str | os.PathLike],
    kwargs: Mapping,
    build: Callable[[], datasets.DatasetDict],
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> datasets.DatasetDict:
    """Return `build()`'s DatasetDict, served from or saved to the Arrow cache.

    The entry lives in `<cache_dir>/<cache_key(...)>` (`cache_dir` defaults to
    `default_dataset_cache_dir()`); it is written to a temporary sibling folder and renamed
    into place (atomic on POSIX). An unreadable entry is rebuilt; when the cache cannot be
    written the freshly built DatasetDict is returned as is.
    """
    if not use_cache:
        return build()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_dataset_cache_dir()
    key = cache_key(loader, version, files, kwargs)
    final = root / key
    if (final / "dataset_dict.json").is_file():
        try:
            dd = datasets.load_from_disk(str(final))
            logger.info("loaded %s from cache %s", loader, final)
            return dd
        except Exception as e:  # corrupt entry: rebuild it
            logger.warning("cache entry %s unreadable (%s); rebuilding", final, e)
            shutil.rmtree(final, ignore_errors=True)
    dd = build()
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_dirs(root)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        try:
            with _quiet_progress():
                dd.save_to_disk(str(tmp))
            make_world_readable(tmp, directory=True)
            try:
                os.rename(tmp, final)
            except OSError:
                if (final / "dataset_dict.json").is_file():  # another process won the race
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # serve from the memory-mapped cache, like a cache hit would
        return datasets.load_from_disk(str(final))
    except OSError as e:
        logger.warning("could not write the data set cache under %s (%s); continuing without it", root, e)
        return dd
