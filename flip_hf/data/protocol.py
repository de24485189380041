"""The data protocol shared by every loader (SPEC section 6).

Every loader in :mod:`flip_hf.data` produces the same thing: a
:class:`datasets.DatasetDict` with the splits ``train`` and ``test``, one
``string`` column per field (in field order, the column name *is* the field's
human text name, e.g. ``"zip code"``) and an ``int64`` column ``label``
holding 0/1.  Field values are human text; a missing value is ``None``
(never ``"nan"`` and never ``""``).

The protocol:

1. label each interaction with a per-data-set rule (:func:`binary_labels`),
   dropping the rows the rule says to drop (MovieLens: rating 3);
2. sort STABLY by time (rows with equal timestamps keep their file order);
   a data set without timestamps keeps its file order;
3. the first ``floor(N * (1 - test_size))`` rows are ``train``, the rest
   ``test`` (``test_size=0.1``: first 90% / last 10%).

Processed data sets are cached as Arrow files (``save_to_disk``) under
``$FLIP_HF_CACHE/datasets`` (default ``~/.cache/flip_hf/datasets``), keyed by
the loader's name and version, a fingerprint of the source files (absolute
path, size, mtime) and the loader's keyword arguments.  A cache entry is
written to a temporary folder and renamed into place, so a crash never
leaves a half-written entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

logger = logging.getLogger(__name__)

LABEL_COLUMN = "label"
SPLITS = ("train", "test")

__all__ = [
    "LABEL_COLUMN",
    "SPLITS",
    "DataProtocolError",
    "flip_hf_cache_root",
    "default_dataset_cache_dir",
    "default_raw_cache_dir",
    "binary_labels",
    "rating_labels",
    "coerce_binary_labels",
    "to_text",
    "stable_time_split",
    "require_columns",
    "frame_to_dataset",
    "columns_to_dataset_dict",
    "build_dataset_dict",
    "fingerprint_files",
    "cached_build",
    "FileSource",
    "find_source",
]


class DataProtocolError(ValueError):
    """Raised when data does not satisfy the protocol (missing columns, empty
    splits, labels that are not 0/1, ...)."""


# --------------------------------------------------------------------------
# cache locations
# --------------------------------------------------------------------------
def flip_hf_cache_root() -> Path:
    """Root of flip_hf's caches: ``$FLIP_HF_CACHE`` or ``~/.cache/flip_hf``."""
    env = os.environ.get("FLIP_HF_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/flip_hf").expanduser()


def default_dataset_cache_dir() -> Path:
    """Where processed data sets are cached: ``<cache root>/datasets``."""
    return flip_hf_cache_root() / "datasets"


def default_raw_cache_dir(name: str) -> Path:
    """Where raw files fetched by a loader are kept: ``<cache root>/raw/<name>``."""
    return flip_hf_cache_root() / "raw" / name


# --------------------------------------------------------------------------
# labelling
# --------------------------------------------------------------------------
def binary_labels(
    values: pd.Series | np.ndarray,
    positive_above: float,
    negative_below: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Threshold labels.

    ``label = 1`` where ``value > positive_above``.  With ``negative_below``
    given, ``label = 0`` only where ``value < negative_below`` and the rows in
    between are dropped; without it every other row is a negative.

    Returns ``(labels int64, keep bool mask)`` over all input rows.
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


def rating_labels(ratings, positive_above: float, negative_below: float | None = None):
    """Alias of :func:`binary_labels` for rating columns (MovieLens: ``(3, 3)``,
    BookCrossing: ``(5, None)``)."""
    return binary_labels(ratings, positive_above, negative_below)


def coerce_binary_labels(values, name: str = "data set") -> np.ndarray:
    """Check that ``values`` are 0/1 (ints, floats 0.0/1.0, bools or the strings
    "0"/"1") and return them as int64; otherwise raise an error that shows the
    offending values."""
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
def _float_to_text(x: float) -> str:
    if math.isfinite(x) and float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def to_text(values: pd.Series | Sequence, strip: bool = True) -> pd.Series:
    """Convert a column to text values: ``object`` series of ``str`` or ``None``.

    Integers become ``"3"``, integral floats ``3.0`` become ``"3"``, other floats
    their shortest repr, booleans ``"True"``/``"False"``; NaN/NA/None and empty
    strings become ``None``.  Strings are stripped of surrounding whitespace
    (``strip=True``)."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    missing = np.asarray(s.isna(), dtype=bool)
    vals = s[~missing]
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        conv = ["True" if bool(b) else "False" for b in vals.to_numpy(dtype=object)]
    elif pd.api.types.is_integer_dtype(dt):
        conv = [str(int(x)) for x in vals.to_numpy(dtype=object)]
    elif pd.api.types.is_float_dtype(dt):
        conv = [_float_to_text(float(x)) for x in vals.to_numpy(dtype=object)]
    elif not pd.api.types.is_object_dtype(dt) and pd.api.types.is_string_dtype(dt):  # "str"/"string" dtypes
        conv = vals.to_numpy(dtype=object)
    else:  # object (possibly mixed), categorical, datetime, ...

        def one(x):
            if isinstance(x, (bool, np.bool_)):
                return "True" if x else "False"
            if isinstance(x, (int, np.integer)):
                return str(int(x))
            if isinstance(x, (float, np.floating)):
                return _float_to_text(float(x))
            if isinstance(x, bytes):
                return x.decode("utf-8", errors="replace")
            return str(x)

        conv = [one(x) for x in vals.to_numpy(dtype=object)]
    out = np.full(len(s), None, dtype=object)
    if len(conv):
        conv = np.asarray(conv, dtype=object)
        if strip:
            conv = np.asarray([x.strip() for x in conv], dtype=object)
        conv[conv == ""] = None
        out[~missing] = conv
    return pd.Series(out, index=s.index, dtype=object)


# --------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------
def n_train_rows(n: int, test_size: float = 0.1) -> int:
    """``floor(n * (1 - test_size))`` computed exactly (decimal arithmetic)."""
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}")
    return int((Decimal(n) * (Decimal(1) - Decimal(str(test_size)))) // 1)


def stable_time_split(
    df: pd.DataFrame,
    time_column: str | None = None,
    test_size: float = 0.1,
    name: str = "data set",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stable sort by ``time_column`` (file order when None), then the first
    ``floor(N * (1 - test_size))`` rows are train and the rest test."""
    if len(df) == 0:
        raise DataProtocolError(f"{name}: no samples left to split (the data is empty)")
    if time_column is not None:
        require_columns(df, [time_column], name)
        df = df.sort_values(time_column, kind="stable")
    df = df.reset_index(drop=True)
    n_train = n_train_rows(len(df), test_size)
    return df.iloc[:n_train].reset_index(drop=True), df.iloc[n_train:].reset_index(drop=True)


# --------------------------------------------------------------------------
# validation + conversion
# --------------------------------------------------------------------------
def require_columns(df: pd.DataFrame, columns: Iterable[str], name: str = "data set") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataProtocolError(
            f"{name}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"available columns: {list(map(str, df.columns))}"
        )


def dataset_features(field_names: Sequence[str]) -> datasets.Features:
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
    """A column as an Arrow ``string`` array with nulls for missing values; empty
    strings become null too."""
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

    ``columns``: field name -> values (Arrow array, pandas Series, numpy or list), in
    field order; ``labels``: 0/1 values; ``time``: sort key (numpy-sortable) or None
    for file order.  Stable sort by ``time``, then the first ``floor(N*(1-test_size))``
    rows are ``train`` and the rest ``test``."""
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
    """Convert a DataFrame into ONE Dataset with the protocol schema (no split).

    ``field_columns`` are the DataFrame's columns, in field order;
    ``field_names`` the output column names (default: the same)."""
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
    """:func:`columns_to_dataset_dict` on a DataFrame: stable sort by ``time_column``
    (file order when None), 90/10 split, conversion of both splits."""
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


# --------------------------------------------------------------------------
# caching
# --------------------------------------------------------------------------
def fingerprint_files(paths: Iterable[str | os.PathLike]) -> list[list]:
    """``[absolute path, size, mtime_ns]`` for every source file."""
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
    """Give a file/folder created by ``tempfile.mkstemp``/``mkdtemp`` (mode 0600/0700)
    the permissions the umask allows, like a normally created one."""
    try:
        os.chmod(path, (0o777 if directory else 0o666) & ~_current_umask())
    except OSError:
        pass


def cache_key(loader: str, version: str, files: Iterable[str | os.PathLike], kwargs: Mapping) -> str:
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


STALE_TEMP_SECONDS = 6 * 3600


def _remove_stale_temp_dirs(root: Path) -> None:
    """Remove temp folders that a killed process left behind (older than 6 hours)."""
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
    """Return ``build()``'s DatasetDict, served from / saved to the Arrow cache.

    The entry lives in ``<cache_dir>/<loader>-v<version>-<hash>``; it is written
    to a temporary sibling folder and renamed into place (atomic on POSIX)."""
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


# --------------------------------------------------------------------------
# file sources (a folder or a zip archive)
# --------------------------------------------------------------------------
@dataclass
class FileSource:
    """A set of named files inside a folder or a zip archive."""

    kind: str  # "dir" | "zip"
    path: Path  # the folder, or the zip file
    members: dict  # logical name -> file path (dir) or member name (zip)

    def open(self, name: str):
        """A binary file object for ``name``."""
        if self.kind == "dir":
            return open(self.members[name], "rb")
        with zipfile.ZipFile(self.path) as zf:
            return io.BytesIO(zf.read(self.members[name]))

    def has(self, name: str) -> bool:
        return name in self.members

    def read_text(self, name: str, encoding: str) -> str:
        with self.open(name) as f:
            return f.read().decode(encoding)

    def fingerprint_files(self) -> list[Path]:
        if self.kind == "zip":
            return [self.path]
        return [Path(p) for p in self.members.values()]


def find_in_zip(zpath: Path, required: Sequence[str], optional: Sequence[str] = ()) -> FileSource | None:
    """The members of ``zpath`` whose base names are ``required`` (+ ``optional``), or None."""
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
    data_dir,
    required: Sequence[str],
    optional: Sequence[str] = (),
    subdirs: Sequence[str] = (),
    zip_names: Sequence[str] = (),
) -> FileSource | None:
    """Locate the ``required`` files: ``data_dir`` itself holds them, or it is a zip
    holding them, or it contains one of ``subdirs`` / ``zip_names`` that does."""
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
