"""Nothing lost at the edges: hostile rows at serving time give finite probabilities or a clear error,
and a bad data file gives an error naming the file (and the line), leaving the data folder as it was."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_data import write_bx, write_ml1m, write_ml100k
from transformers import BertConfig

from flip_hf import FlipConfig, FlipForCTR
from flip_hf.data import DataProtocolError, load_ctr_dataset

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------ hostile rows
@pytest.fixture(scope="module")
def models(flip_tokenizer, one_torch_thread):
    """Tiny random models: ID-only, and joint over a text encoder with 128 positions (fewer than the
    tokenizer's max_length of 512)."""
    torch.manual_seed(0)
    text_config = BertConfig(
        vocab_size=len(flip_tokenizer.text_tokenizer), hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    small = {"id_embedding_dim": 8, "id_mlp_hidden_sizes": [16]}
    return {
        "id": FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, mode="id", **small)),
        "joint": FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, text_config=text_config, **small)),
    }


def known_values(flip_tokenizer):
    return [flip_tokenizer.id_to_value(i)[1] for i in range(2, flip_tokenizer.feature_vocab_size)]


def cells(flip_tokenizer):
    """Every kind of cell a client may send."""
    return st.one_of(
        st.none(),
        st.just(""),
        st.just("   "),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True),
        st.datetimes(),
        st.binary(max_size=8),
        st.text(max_size=20),
        st.text(st.characters(categories=["Cs", "Cc", "Co", "Mn", "Zs", "So"]), max_size=8),  # surrogates too
        st.text(min_size=1, max_size=40).map(lambda t: (t + " ") * 300),  # very long
        st.lists(st.integers(), max_size=3),
        st.sampled_from(known_values(flip_tokenizer)),
    )


def assert_served(probs, n):
    assert probs.shape == (n,) and probs.dtype == torch.float64
    assert bool(torch.isfinite(probs).all()) and bool(((probs > 0) & (probs < 1)).all()), probs


@pytest.mark.parametrize("mode", ["id", "joint"])
@PROPERTY
@given(data=st.data())
def test_hostile_rows_get_finite_probabilities(models, flip_tokenizer, mode, data):
    fields = flip_tokenizer.field_names
    value = cells(flip_tokenizer)
    extra = {"label": value, "extra": value, "": value, "ünïcode key": value, "42": value}
    rows = data.draw(
        st.lists(st.fixed_dictionaries({f: value for f in fields}, optional=extra), min_size=1, max_size=5)
    )
    for row in rows:  # keys missing from some rows read as missing values
        for field in data.draw(st.sets(st.sampled_from(fields))):
            row.pop(field)
    absent = [f for f in fields if all(f not in row for row in rows)]
    if absent:
        with pytest.raises(KeyError, match=absent[0]):
            models[mode].predict_proba(rows, flip_tokenizer)
    else:
        assert_served(models[mode].predict_proba(rows, flip_tokenizer), len(rows))


def odd_column(data, kind: str, n: int, known: list[str]):
    """A column of one odd pandas dtype."""
    draw = lambda strategy: data.draw(st.lists(strategy, min_size=n, max_size=n))  # noqa: E731
    if kind == "category":
        return pd.Categorical(draw(st.one_of(st.none(), st.sampled_from(known[:5]))))
    if kind == "Int64":
        return pd.array(draw(st.one_of(st.none(), st.integers(-(2**40), 2**40))), dtype="Int64")
    if kind == "boolean":
        return pd.array(draw(st.one_of(st.none(), st.booleans())), dtype="boolean")
    if kind == "string":
        return pd.array(draw(st.one_of(st.none(), st.text(max_size=10))), dtype="string")
    if kind == "datetime":
        return pd.to_datetime(draw(st.one_of(st.none(), st.datetimes(min_value=datetime.datetime(1900, 1, 1)))))
    if kind == "float":
        return np.array(draw(st.floats(allow_nan=True, allow_infinity=True)), dtype="float64")
    mixed = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=10), st.decimals(allow_nan=True))
    return pd.Series(draw(mixed), dtype=object)


@pytest.mark.parametrize("mode", ["id", "joint"])
@PROPERTY
@given(data=st.data())
def test_dataframes_with_odd_dtypes_get_finite_probabilities(models, flip_tokenizer, mode, data):
    n = data.draw(st.integers(1, 5))
    kinds = ["category", "Int64", "boolean", "string", "datetime", "float", "object"]
    known = known_values(flip_tokenizer)
    df = pd.DataFrame(
        {f: odd_column(data, data.draw(st.sampled_from(kinds)), n, known) for f in flip_tokenizer.field_names}
    )
    df["extra"] = odd_column(data, "object", n, known)
    assert_served(models[mode].predict_proba(df, flip_tokenizer), n)


def a_row(flip_tokenizer, **cells):
    row = {f: "x" for f in flip_tokenizer.field_names}
    row.update(cells)
    return row


def test_long_text_is_cut_to_the_max_length(models, flip_tokenizer):
    row = a_row(flip_tokenizer, title="a very long title " * 2000, genres="dràmä " * 500)
    assert len(flip_tokenizer([row])["input_ids"][0]) == flip_tokenizer.max_length
    # the joint model's encoder has 128 positions: the prompt is cut to them too
    assert_served(models["joint"].predict_proba([row, row], flip_tokenizer), 2)


def test_lone_surrogates_are_served(models, flip_tokenizer):
    row = a_row(flip_tokenizer, title="caf\udce9 \ud800", genres="\udfff")
    assert_served(models["joint"].predict_proba(row, flip_tokenizer), 1)


def test_unservable_rows_get_a_clear_error(models, flip_tokenizer):
    model = models["joint"]
    row = a_row(flip_tokenizer)
    del row["title"]
    with pytest.raises(KeyError, match="'title'"):
        model.predict_proba(row, flip_tokenizer)
    with pytest.raises(KeyError, match="'genres'"):
        model.predict_proba(pd.DataFrame([a_row(flip_tokenizer)]).drop(columns="genres"), flip_tokenizer)
    with pytest.raises(ValueError, match="different lengths"):
        model.predict_proba(
            {f: ["a", "b"] if f != "title" else ["a"] for f in flip_tokenizer.field_names}, flip_tokenizer
        )
    with pytest.raises(TypeError, match=r"\['user id'.*hold single cells but \['genres'\] hold columns"):
        model.predict_proba(a_row(flip_tokenizer, genres=["Drama", "Comedy"]), flip_tokenizer)
    with pytest.raises(ValueError, match=r"duplicate column\(s\) \['title'\]"):
        frame = pd.DataFrame([a_row(flip_tokenizer)])
        model.predict_proba(pd.concat([frame, frame[["title"]]], axis=1), flip_tokenizer)
    with pytest.raises(ValueError, match="empty batch"):
        model.predict_proba(pd.DataFrame(columns=flip_tokenizer.field_names), flip_tokenizer)
    with pytest.raises(TypeError, match="FlipTabularTokenizer"):
        model.predict_proba([a_row(flip_tokenizer)], flip_tokenizer.text_tokenizer)


def test_non_finite_weights_are_an_error_not_a_nan(models, flip_tokenizer):
    model = models["id"]
    with torch.no_grad():
        saved = model.id_head.bias.clone()
        model.id_head.bias.fill_(float("nan"))
    try:
        with pytest.raises(ValueError, match=r"non-finite probabilities for 2 row\(s\)"):
            model.predict_proba([a_row(flip_tokenizer), a_row(flip_tokenizer)], flip_tokenizer)
    finally:
        with torch.no_grad():
            model.id_head.bias.copy_(saved)


# ------------------------------------------------------------------------------ bad data files
@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLIP_HF_CACHE", str(tmp_path / "flip_cache"))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def write_table(folder: Path, fmt: str, labels=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    n = 12
    df = pd.DataFrame({"user": [f"u{i % 4}" for i in range(n)], "city": ["Zürich", "Paris", "Oslo"] * 4})
    df["label"] = labels if labels is not None else [i % 2 for i in range(n)]
    path = folder / f"clicks.{fmt}"
    df.to_csv(path, index=False) if fmt == "csv" else df.to_parquet(path)
    return path


LOADERS = {
    "movielens-1m": write_ml1m,
    "movielens-100k": write_ml100k,
    "bookcrossing": write_bx,
    "csv": lambda folder: write_table(folder, "csv"),
    "parquet": lambda folder: write_table(folder, "parquet"),
}


def load(name: str, folder: Path):
    if name in ("csv", "parquet"):
        return load_ctr_dataset(name, data_files=str(folder / f"clicks.{name}"))
    return load_ctr_dataset(name, data_dir=folder)


def edit_line(number: int, edit, encoding: str = "latin-1"):
    """A fault: line ``number`` of the file rewritten by ``edit``."""

    def apply(path: Path) -> None:
        lines = path.read_bytes().decode(encoding).splitlines(keepends=True)
        lines[number - 1] = edit(lines[number - 1].rstrip("\r\n")) + "\n"
        path.write_bytes("".join(lines).encode(encoding))

    return apply


def drop_last(sep: str):
    return lambda line: sep.join(line.split(sep)[:-1])


def add_value(sep: str):
    return lambda line: line + sep + line.split(sep)[-1]


def reencode(encoding: str, source: str = "latin-1"):
    return lambda path: path.write_bytes(path.read_bytes().decode(source).encode(encoding))


def missing(path: Path) -> None:
    path.unlink()


def empty(path: Path) -> None:
    path.write_bytes(b"")


# (loader, file, fault, what the message says besides the file's name, line)
FAULTS = [
    ("movielens-1m", "ratings.dat", missing, "missing", None),
    ("movielens-1m", "users.dat", empty, "is empty", None),
    ("movielens-1m", "ratings.dat", edit_line(3, drop_last("::")), "expected 4 '::'-separated integers", 3),
    ("movielens-1m", "users.dat", edit_line(2, add_value("::")), "expected 5 '::'-separated values", 2),
    ("movielens-1m", "ratings.dat", edit_line(5, lambda _: "5::1::five::978300000"), "not all integers", 5),
    ("movielens-1m", "movies.dat", reencode("utf-16"), "NUL byte", 1),
    ("movielens-1m", "movies.dat", reencode("utf-8"), "UTF-8 encoded", 2),
    ("movielens-100k", "u.item", missing, "missing", None),
    ("movielens-100k", "u.data", empty, "is empty", None),
    ("movielens-100k", "u.data", edit_line(4, drop_last("\t")), "expected 4 '\\t'-separated integers", 4),
    ("movielens-100k", "u.user", edit_line(2, add_value("|")), "expected 5 '|'-separated values", 2),
    ("movielens-100k", "u.item", edit_line(3, drop_last("|")), "expected 24 '|'-separated values", 3),
    ("movielens-100k", "u.user", reencode("utf-16"), "NUL byte", 1),
    ("movielens-100k", "u.item", reencode("utf-8"), "UTF-8 encoded", 2),
    ("bookcrossing", "BX-Books.csv", missing, "missing", None),
    ("bookcrossing", "BX-Users.csv", empty, "is empty", None),
    ("bookcrossing", "BX-Book-Ratings.csv", edit_line(4, add_value(";")), "Expected 3 fields", 4),
    ("bookcrossing", "BX-Book-Ratings.csv", edit_line(5, drop_last(";")), "expected 3 ';'-separated values", 5),
    ("bookcrossing", "BX-Book-Ratings.csv", edit_line(5, lambda _: '"3";"0060973129";"six"'), "must be a number", None),
    ("bookcrossing", "BX-Users.csv", reencode("utf-16"), "NUL byte", 1),
    ("csv", "clicks.csv", missing, "does not exist", None),
    ("csv", "clicks.csv", empty, "is empty", None),
    ("csv", "clicks.csv", edit_line(4, add_value(","), "utf-8"), "Expected 3 fields", 4),
    ("csv", "clicks.csv", edit_line(5, drop_last(","), "utf-8"), "expected 3 ','-separated values", 5),
    ("csv", "clicks.csv", reencode("latin-1", "utf-8"), "not valid utf-8", 2),
    ("csv", "clicks.csv", reencode("utf-16", "utf-8"), "NUL byte", 1),
    ("csv", "clicks.csv", edit_line(6, lambda line: line[:-1] + "2", "utf-8"), "labels must be binary", None),
    ("parquet", "clicks.parquet", missing, "does not exist", None),
    ("parquet", "clicks.parquet", empty, "is empty", None),
    ("parquet", "clicks.parquet", lambda p: p.write_text("user,label\nu1,1\n"), "not a readable Parquet", None),
]


@pytest.mark.parametrize(
    "loader, name, fault, says, line",
    FAULTS,
    ids=[f"{d}-{n}-{f.__qualname__}-{i}" for i, (d, n, f, *_) in enumerate(FAULTS)],
)
def test_a_bad_data_file_is_named(tmp_path, loader, name, fault, says, line):
    folder = tmp_path / "data"
    LOADERS[loader](folder)
    fault(folder / name)
    before = snapshot(folder)
    with pytest.raises(FileNotFoundError if fault is missing else DataProtocolError) as err:
        load(loader, folder)
    message = str(err.value)
    assert name in message and says in message, message
    if line is not None:
        assert f"line {line}" in message, message
    assert snapshot(folder) == before


@pytest.mark.parametrize("loader", list(LOADERS))
def test_loading_writes_nothing_into_the_data_folder(tmp_path, loader):
    folder = tmp_path / "data"
    LOADERS[loader](folder)
    before = snapshot(folder)
    for _ in range(2):  # built, then served from the cache
        assert load(loader, folder)["train"].num_rows > 0
    assert snapshot(folder) == before


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_non_binary_labels_name_the_file_and_row(tmp_path, fmt):
    path = write_table(tmp_path, fmt, labels=[0, 1, 0, 1, 0.5, 0, 1, 0, 1, 0, 1, 0])
    with pytest.raises(DataProtocolError, match=r"labels must be binary") as err:
        load_ctr_dataset(fmt, data_files=str(path))
    assert f"First: {path}, data row 5" in str(err.value)
