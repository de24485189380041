"""``flip-hf``, the command a user types after ``pip install``. It only parses flags and calls
`flip_hf.serving`; the library never imports this module.

    flip-hf predict --model DIR --input rows.parquet --output scores.parquet [--chunk_size N] [--overwrite]
    flip-hf export --model DIR --output ONNX_DIR [--overwrite]   (FLIP_ID to ONNX; the ``serve`` extra)
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flip-hf", description="Serve FLIP CTR models (flip_hf).")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict", help="Score every row of a parquet or csv file into a parquet or csv file, in input order."
    )
    predict.add_argument("--model", required=True, help="a saved FlipForCTR folder (or Hub repo id)")
    predict.add_argument("--input", required=True, help="rows to score: .parquet or .csv")
    predict.add_argument("--output", required=True, help="where the scores go: .parquet or .csv")
    predict.add_argument("--chunk_size", type=int, default=None, help="rows read and written at a time")
    predict.add_argument("--batch_size", type=int, default=None, help="rows per model call (default 1024)")
    predict.add_argument("--keep_columns", nargs="*", default=[], help="input columns copied to the output")
    predict.add_argument("--output_column", default=None, help="name of the probability column")
    predict.add_argument("--device", default=None, help="e.g. cpu, cuda, cuda:1 (default: a GPU when there is one)")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    predict.add_argument("--no_progress", action="store_true", help="no progress bar")
    export = commands.add_parser(
        "export", help="Export the ID model (FLIP_ID) of a saved folder to ONNX, with flip_id_view.json beside it."
    )
    export.add_argument("--model", required=True, help="a saved FlipForCTR folder (mode id, or joint: its ID side)")
    export.add_argument("--output", required=True, help="folder for model.onnx and flip_id_view.json")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..serving import batch

    if args.command == "predict":
        result = batch.score_file(
            args.model,
            args.input,
            args.output,
            chunk_size=args.chunk_size or batch.DEFAULT_CHUNK_SIZE,
            batch_size=args.batch_size,
            keep_columns=args.keep_columns,
            output_column=args.output_column or batch.DEFAULT_OUTPUT_COLUMN,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            device=args.device,
        )
        print(json.dumps(result))
    elif args.command == "export":
        from ..serving.export import export_folder

        print(json.dumps(export_folder(args.model, args.output, overwrite=args.overwrite)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
