"""BookCrossing (Ziegler et al., 2005) loader (paper Section V-A1).

`data_dir`: a folder with the three BX CSV files `BX-Users.csv`, `BX-Books.csv` and
`BX-Book-Ratings.csv` (`;`-separated, latin-1, values double-quoted, `\\"`-escaped quotes,
HTML entities, unquoted `NULL` ages), a zip holding them (`BX-CSV-Dump.zip`) or a folder
containing that zip. The Kaggle re-export (`Users.csv`, `Books.csv`, `Ratings.csv`, `,`- or
`;`-separated) is accepted too.

Fields, in order: "user id", "location", "age", "ISBN", "book title", "book author",
"year of publication", "publisher".

* Label: `Book-Rating > 5` -> 1, else 0; every rating is kept, including the implicit 0
  ratings. The ratings carry no timestamp: the file order is the time order, so the first 90%
  of the file is `train` and the last 10% `test`.
* Ratings of an ISBN missing from the Books file keep their row, with None for the book's
  title/author/year/publisher (`drop_unmatched_books=True` drops them instead; the paper's
  1,031,171 samples look like that inner join).
* Text values are HTML-unescaped (`&amp;` -> `&`) and stripped.
* Age: `NULL` or an implausible age (outside 5..100; the file has 0s and 244s) -> None;
  otherwise the age in years as text (`"34"`), not bucketed.
* Year of publication: `0` (the file's "unknown"), a non-number, or a year outside 1000..2100
  -> None; otherwise the year as text.
* Malformed lines of the Books file: lines with too many fields are skipped
  (`on_bad_lines="skip"`); the known lines where an escaped quote swallowed the title/author
  separator (`...Readers)\\";"James Buckley";"2000";...`) are repaired.
"""

from __future__ import annotations

import html
import io
import logging

import datasets
import numpy as np
import pandas as pd

from ..schema import LABEL_COLUMN
from .cache import cached_build
from .protocol import DataProtocolError, binary_labels, build_dataset_dict, require_columns, to_text
from .sources import FileSource, csv_row_problem, decode_text, find_source, missing_note

logger = logging.getLogger(__name__)

BX_VERSION = "1"
FIELD_NAMES = [
    "user id",
    "location",
    "age",
    "ISBN",
    "book title",
    "book author",
    "year of publication",
    "publisher",
]
USER_FIELDS = ["user id", "location", "age"]
"""The fields that describe the user (the user tower of CTR-BERT, paper Table II); the rest describe the book."""
ITEM_FIELDS = ["ISBN", "book title", "book author", "year of publication", "publisher"]
AGE_RANGE = (5, 100)
YEAR_RANGE = (1000, 2100)

_FILESETS = [
    ("BX-Users.csv", "BX-Books.csv", "BX-Book-Ratings.csv"),
    ("Users.csv", "Books.csv", "Ratings.csv"),
]


def _sniff_sep(head: bytes) -> str:
    first = head.split(b"\n", 1)[0]
    return ";" if first.count(b";") >= first.count(b",") else ","


def _read_bx_csv(src: FileSource, member: str, required: list[str], skip_bad_lines: bool = False) -> pd.DataFrame:
    """One BX file as text columns. A line with another number of values than the header raises a
    DataProtocolError naming the file and the line, except in the Books file (``skip_bad_lines``),
    whose known malformed lines are skipped."""
    where = src.describe(member)
    raw = src.read_bytes(member)
    text = decode_text(raw, "latin-1", where)
    sep = _sniff_sep(raw[:4096])
    try:
        df = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            quotechar='"',
            escapechar="\\",
            dtype=str,
            keep_default_na=False,
            on_bad_lines="skip" if skip_bad_lines else "error",
            engine="c",
        )
    except (ValueError, pd.errors.ParserError) as err:
        raise DataProtocolError(f"{where}: {str(err).strip()}") from None
    df.columns = [str(c).strip() for c in df.columns]
    require_columns(df, required, where)
    if not skip_bad_lines:  # pandas pads a short line with empty values
        bad = csv_row_problem(text, sep, where, escapechar="\\")
        if bad:
            raise bad
    return df


def _clean_text(s: pd.Series) -> pd.Series:
    """`to_text` plus HTML unescaping; the literal `NULL` means missing (other placeholders such
    as `n/a` are kept as text)."""
    out = to_text(s)
    has_amp = out.map(lambda x: x is not None and "&" in x).to_numpy(dtype=bool)
    if has_amp.any():
        out[has_amp] = out[has_amp].map(lambda x: html.unescape(x).strip())
    out[(out == "NULL").to_numpy(dtype=bool)] = None
    out[(out == "").to_numpy(dtype=bool)] = None
    return out


def _int_text_in_range(s: pd.Series, lo: int, hi: int) -> np.ndarray:
    num = pd.to_numeric(s.astype(str).str.strip(), errors="coerce").to_numpy(dtype="float64")
    ok = ~np.isnan(num) & (num >= lo) & (num <= hi) & (np.floor(num) == num)
    out = np.full(len(num), None, dtype=object)
    out[ok] = [str(int(v)) for v in num[ok]]
    return out


def _repair_books(books: pd.DataFrame) -> pd.DataFrame:
    """Fix rows where an escaped quote merged title and author (columns shifted left)."""
    t, a, y, p = "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"
    year_bad = pd.to_numeric(books[y].str.strip(), errors="coerce").isna()
    author_is_year = books[a].str.strip().str.fullmatch(r"\d{1,4}").fillna(False)
    merged = books[t].str.contains('";', regex=False).fillna(False)
    fix = (year_bad & author_is_year & merged).to_numpy(dtype=bool)
    if fix.any():
        books = books.copy()
        parts = books.loc[fix, t].str.split('";', n=1, expand=True)
        books.loc[fix, p] = books.loc[fix, y]
        books.loc[fix, y] = books.loc[fix, a]
        books.loc[fix, t] = parts[0]
        books.loc[fix, a] = parts[1].str.strip().str.strip('"')
        logger.info("bookcrossing: repaired %d book row(s) with a merged title/author", int(fix.sum()))
    return books


def _bx_source(data_dir) -> tuple[FileSource, tuple[str, str, str]]:
    if data_dir is None:
        raise DataProtocolError(
            "bookcrossing has no built-in copy: pass data_dir= pointing at a folder with BX-Users.csv, "
            "BX-Books.csv and BX-Book-Ratings.csv (or at BX-CSV-Dump.zip)"
        )
    for names in _FILESETS:
        src = find_source(
            data_dir,
            list(names),
            (),
            subdirs=["BX-CSV-Dump", "bookcrossing"],
            zip_names=["BX-CSV-Dump.zip", "bookcrossing.zip"],
        )
        if src is not None:
            return src, names
    raise FileNotFoundError(
        f"no BookCrossing files in {str(data_dir)!r}{missing_note(data_dir, _FILESETS[0])}: expected BX-Users.csv, "
        "BX-Books.csv and "
        "BX-Book-Ratings.csv (in the folder, a subfolder 'BX-CSV-Dump', or BX-CSV-Dump.zip)"
    )


def _build_bx(src: FileSource, names, test_size: float, drop_unmatched_books: bool) -> datasets.DatasetDict:
    users_f, books_f, ratings_f = names
    name = "bookcrossing"
    ratings = _read_bx_csv(src, ratings_f, ["User-ID", "ISBN", "Book-Rating"])
    users = _read_bx_csv(src, users_f, ["User-ID", "Location", "Age"])
    book_columns = ["ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"]
    books = _read_bx_csv(src, books_f, book_columns, skip_bad_lines=True)
    books = _repair_books(books)

    rating = ratings["Book-Rating"].str.strip()
    bad = ~rating.str.fullmatch(r"\d+(\.\d*)?")
    if bad.any():
        raise DataProtocolError(
            f"{src.describe(ratings_f)}: Book-Rating must be a number, got {rating[bad].iloc[0]!r} "
            f"(data row {int(bad.to_numpy().argmax()) + 1})"
        )
    labels, _ = binary_labels(rating.to_numpy(), positive_above=5)

    u = pd.DataFrame(
        {
            "location": _clean_text(users["Location"]).to_numpy(dtype=object),
            "age": _int_text_in_range(users["Age"], *AGE_RANGE),
        },
        index=users["User-ID"].str.strip().to_numpy(),
    )
    u = u[~u.index.duplicated(keep="first")]
    b = pd.DataFrame(
        {
            "book title": _clean_text(books["Book-Title"]).to_numpy(dtype=object),
            "book author": _clean_text(books["Book-Author"]).to_numpy(dtype=object),
            "year of publication": _int_text_in_range(books["Year-Of-Publication"], *YEAR_RANGE),
            "publisher": _clean_text(books["Publisher"]).to_numpy(dtype=object),
        },
        index=books["ISBN"].str.strip().to_numpy(),
    )
    b = b[~b.index.duplicated(keep="first")]

    uid = to_text(ratings["User-ID"])
    isbn = to_text(ratings["ISBN"])
    uu = u.reindex(uid.to_numpy())
    bb = b.reindex(isbn.to_numpy())
    df = pd.DataFrame(
        {
            "user id": uid.to_numpy(dtype=object),
            "location": uu["location"].to_numpy(dtype=object),
            "age": uu["age"].to_numpy(dtype=object),
            "ISBN": isbn.to_numpy(dtype=object),
            "book title": bb["book title"].to_numpy(dtype=object),
            "book author": bb["book author"].to_numpy(dtype=object),
            "year of publication": bb["year of publication"].to_numpy(dtype=object),
            "publisher": bb["publisher"].to_numpy(dtype=object),
            LABEL_COLUMN: labels,
        }
    )
    if drop_unmatched_books:
        df = df[np.isin(isbn.to_numpy(dtype=object), b.index.to_numpy())].reset_index(drop=True)
    for col in FIELD_NAMES:  # NaN from reindex -> None
        vals = df[col]
        df[col] = vals.where(vals.notna(), None).astype(object)
    return build_dataset_dict(
        df, FIELD_NAMES, LABEL_COLUMN, time_column=None, test_size=test_size, name=name, already_text=True
    )


def load_bookcrossing(
    data_dir=None,
    *,
    test_size: float = 0.1,
    drop_unmatched_books: bool = False,
    cache_dir=None,
    use_cache: bool = True,
) -> datasets.DatasetDict:
    """BookCrossing with the FLIP protocol (see the module docstring)."""
    src, names = _bx_source(data_dir)
    return cached_build(
        "bookcrossing",
        BX_VERSION,
        src.fingerprint_files(),
        {"test_size": test_size, "drop_unmatched_books": drop_unmatched_books},
        lambda: _build_bx(src, names, test_size, drop_unmatched_books),
        cache_dir=cache_dir,
        use_cache=use_cache,
    )
