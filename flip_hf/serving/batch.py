"""Batch scoring of a table file (parquet or csv) that need not fit in memory: it is streamed in
chunks (pyarrow), scored by the ``ctr-prediction`` pipeline and written chunk by chunk, in input order
(``flip-hf predict``).

The output is written to a temporary file beside it and moved into place only when every row is
scored and the row counts agree; an existing output is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .pipeline import ctr_pipeline

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
DEFAULT_CHUNK_SIZE = 65_536
DEFAULT_OUTPUT_COLUMN = "probability"


def table_format(path: str | os.PathLike) -> str:
    """``"parquet"`` or ``"csv"`` from a file name; a ValueError names the suffixes it knows."""
    name = str(path).lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise ValueError(
        f"Cannot tell the format of {path}: use a name ending in {', '.join(PARQUET_SUFFIXES + CSV_SUFFIXES)}."
    )


def _separator(path: str) -> str:
    return "\t" if str(path).lower().endswith((".tsv", ".tsv.gz")) else ","


class TableReader:
    """The chunks of a parquet or csv file as Arrow record batches (csv cells as text, as the data
    loaders read them); ``columns`` is the file's header, ``num_rows`` its row count when known."""

    def __init__(self, path: str | os.PathLike, chunk_size: int = DEFAULT_CHUNK_SIZE):
        self.path = str(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"Input file {self.path} does not exist.")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
        self.format = table_format(self.path)
        self.chunk_size = int(chunk_size)
        self.num_rows: int | None = None
        if self.format == "parquet":
            self._file = pq.ParquetFile(self.path)
            self.columns = list(self._file.schema_arrow.names)
            self.num_rows = int(self._file.metadata.num_rows)
        else:
            import pandas as pd

            header = pd.read_csv(self.path, sep=_separator(self.path), nrows=0)
            self.columns = [str(c) for c in header.columns]

    def batches(self, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """Record batches of ``columns`` (a subset of the header), at most ``chunk_size`` rows each."""
        if self.format == "parquet":
            yield from self._file.iter_batches(batch_size=self.chunk_size, columns=list(columns))
            return
        import pandas as pd

        schema = pa.schema([(c, pa.string()) for c in columns])
        reader = pd.read_csv(
            self.path, sep=_separator(self.path), usecols=list(columns), dtype=str, chunksize=self.chunk_size
        )
        with reader:
            for frame in reader:
                frame = frame[list(columns)]
                yield pa.RecordBatch.from_pandas(frame.astype(object).where(frame.notna(), None), schema=schema)


class TableWriter:
    """Appends Arrow tables to a parquet or csv file."""

    def __init__(self, path: str, fmt: str, sep: str = ","):
        self.path, self.format, self.sep = path, fmt, sep
        self._parquet: pq.ParquetWriter | None = None
        self._csv = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self.format == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        else:
            first = self._csv is None
            if first:
                self._csv = open(self.path, "w", encoding="utf-8", newline="")
            table.to_pandas().to_csv(self._csv, sep=self.sep, header=first, index=False)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()


def _check_output(input_path: str, output_path: str, overwrite: bool) -> None:
    if os.path.abspath(input_path) == os.path.abspath(output_path):
        raise ValueError(f"The output {output_path} is the input file: write the scores elsewhere.")
    if os.path.isdir(output_path):
        raise IsADirectoryError(f"The output {output_path} is a directory: give a file name.")
    if os.path.exists(output_path) and not overwrite:
        raise FileExistsError(
            f"The output {output_path} already exists: pass --overwrite (overwrite=True) to replace it."
        )
    parent = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"The output folder {parent} does not exist.")


def score_file(
    scorer: Any,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int | None = None,
    keep_columns: Sequence[str] = (),
    output_column: str = DEFAULT_OUTPUT_COLUMN,
    overwrite: bool = False,
    progress: bool = True,
    device: Any = None,
) -> dict[str, Any]:
    """Score every row of ``input_path`` into ``output_path`` (parquet or csv, from the names).

    ``scorer`` is a `CTRPredictionPipeline` or a saved model folder (then ``device`` places it). The
    output holds ``keep_columns`` of the input (an id column, say) and ``output_column``, one row per
    input row in input order. ``chunk_size`` rows are read, scored and written at a time; the pipeline
    runs ``batch_size`` rows per model call. Returns ``{"rows", "output", "seconds"}``.
    """
    from tqdm.auto import tqdm

    input_path, output_path = str(input_path), str(output_path)
    _check_output(input_path, output_path, overwrite)
    reader = TableReader(input_path, chunk_size)
    if isinstance(scorer, (str, os.PathLike)):
        scorer = ctr_pipeline(scorer, device=device)
    tokenizer = scorer.tokenizer
    keep_columns = list(dict.fromkeys(keep_columns))
    missing = [c for c in keep_columns if c not in reader.columns]
    if missing:
        raise KeyError(f"Column(s) {missing} to keep are not in {input_path} (its columns: {reader.columns}).")
    if output_column in keep_columns:
        raise ValueError(f"The output column {output_column!r} is also a column to keep: pick another name.")
    fields = [f for f in tokenizer.field_names if f in reader.columns]
    tokenizer.field_columns({c: [None] for c in reader.columns})  # a field the file lacks: the KeyError now
    wanted = list(dict.fromkeys(fields + keep_columns))
    out_format = table_format(output_path)
    partial = os.path.join(os.path.dirname(os.path.abspath(output_path)), f".{os.path.basename(output_path)}.partial")
    writer = TableWriter(partial, out_format, _separator(output_path))
    start, read = time.perf_counter(), 0
    bar = tqdm(total=reader.num_rows, unit="rows", desc=f"scoring {os.path.basename(input_path)}", disable=not progress)
    try:
        for batch in reader.batches(wanted):
            if batch.num_rows == 0:
                continue
            columns = {f: batch.column(f).to_pylist() for f in fields}
            try:
                probs = scorer(columns, batch_size=batch_size)
            except ValueError as err:
                raise ValueError(f"{err} (input rows {read} to {read + batch.num_rows - 1})") from None
            kept = [batch.column(c) for c in keep_columns]
            table = pa.Table.from_arrays([*kept, pa.array(probs, pa.float64())], names=[*keep_columns, output_column])
            writer.write(table)
            read += batch.num_rows
            bar.update(batch.num_rows)
        writer.close()
        if read == 0:
            raise ValueError(f"{input_path} holds no rows to score.")
        written = pq.ParquetFile(partial).metadata.num_rows if out_format == "parquet" else writer.rows
        if written != read or (reader.num_rows is not None and read != reader.num_rows):
            raise RuntimeError(
                f"Row count mismatch: {input_path} has {reader.num_rows or read} rows, {written} written."
            )
        os.replace(partial, output_path)
    except BaseException:
        writer.close()
        if os.path.exists(partial):
            os.remove(partial)
        raise
    finally:
        bar.close()
    return {"rows": read, "output": output_path, "seconds": time.perf_counter() - start}


__all__ = ["DEFAULT_CHUNK_SIZE", "TableReader", "TableWriter", "score_file", "table_format"]
