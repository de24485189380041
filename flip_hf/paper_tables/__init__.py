"""The paper's tables as one runner (Table II, III and VII of paper Section V, plus this package's own
studies): ``python benchmarks/paper_tables.py --table 2 --profile cpu``.

Rows are (pretraining preset, finetuning mode) pairs (`definitions`), profiles fix the data and the
budget (`profiles`), `runner` trains with selection on the validation split and `report` writes the
Markdown, JSON and PNG results."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

from ..data.cache import flip_hf_cache_root
from ..training.logs import setup_logging
from ..training.loops import device_description
from .definitions import SWEEPS, TABLE_TITLES, TABLES, Row
from .profiles import DATA_DIR_ENV, PROFILES, FinetuneBudget, Profile
from .report import summarise, write_report
from .runner import pretrain_key, run_table

logger = logging.getLogger(__name__)


def device_tag() -> str:
    """A short device name for results files: ``cpu`` or the GPU's name (``nvidia-h200``)."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    name = torch.cuda.get_device_name(0).lower().replace(" ", "-")
    return "".join(c for c in name if c.isalnum() or c == "-")


def _pretraining_summaries(work_dir: Path, results: list[dict]) -> dict[str, dict]:
    """Each pretraining run's summary; from the facts its rows keep when the folder is gone."""
    out = {}
    for r in results:
        facts = r.get("pretrain")
        if facts and facts["folder"] not in out:
            path = work_dir / "pretrain" / facts["folder"] / "pretrain_results.json"
            if path.is_file():
                with open(path, encoding="utf-8") as fh:
                    out[facts["folder"]] = json.load(fh)
            else:
                logger.warning("%s is gone: the report uses the facts its rows kept", path)
                out[facts["folder"]] = facts
    return out


def main(argv: list[str] | None = None) -> dict:
    """Run (or resume) one table and write its results files; returns their paths and the summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, choices=sorted(TABLES))
    parser.add_argument("--profile", default="cpu", choices=sorted(PROFILES))
    parser.add_argument("--rows", nargs="+", default=None, help="Only these rows (names as in the table).")
    parser.add_argument(
        "--work_dir",
        default=None,
        help="Checkpoints, per-row results and test predictions (resumable; default: <flip_hf cache>/paper_tables, "
        "where a later session finds them).",
    )
    parser.add_argument("--results_dir", default="benchmarks/results")
    parser.add_argument("--plm", default=None, help="Local HF text encoder (default: the profile's).")
    parser.add_argument(
        "--data_dir", default=None, help=f"Raw data folder or zip (default: the profile's, else ${DATA_DIR_ENV})."
    )
    parser.add_argument("--max_train_samples", type=int, default=None, help="Subsample train (smoke runs only).")
    parser.add_argument("--num_text_layers", type=int, default=None)
    parser.add_argument("--pretrain_epochs", type=float, default=None)
    parser.add_argument("--p5_plm", dest="seq2seq_plm", default=None, help="Local T5-family checkpoint for P5.")
    parser.add_argument("--unseen_id", default=None, choices=["unknown", "mask"], help="Feature id of unseen values.")
    parser.add_argument("--bf16", default=None, choices=["true", "false"], help="Override the profile's bf16.")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="After selection on validation, train each row's chosen recipe (and its pretraining) again on "
        "train + validation and read test from that model (results files end in _refit).",
    )
    args = parser.parse_args(argv)
    setup_logging()
    profile = PROFILES[args.profile]
    changes = {
        k: getattr(args, k)
        for k in (
            "plm",
            "data_dir",
            "max_train_samples",
            "num_text_layers",
            "pretrain_epochs",
            "seq2seq_plm",
            "unseen_id",
        )
        if getattr(args, k) is not None
    }
    if args.bf16 is not None:
        changes["bf16"] = args.bf16 == "true"
    if args.refit:
        changes["refit"] = True
    profile = profile.replace(**changes)
    work_dir = Path(args.work_dir) if args.work_dir else flip_hf_cache_root() / "paper_tables"
    start = time.perf_counter()
    results = run_table(args.table, profile, work_dir, args.rows)
    meta = {
        "command": "python benchmarks/paper_tables.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "device_description": device_description(),
        "device": device_tag(),
        "wall_time_s": sum(r.get("wall_time_s", 0.0) for r in results),
        "session_time_s": time.perf_counter() - start,
        "profile_settings": {k: str(v) for k, v in vars(profile).items()},
        "pretraining": _pretraining_summaries(work_dir, results),
    }
    paths = write_report(args.table, profile, results, args.results_dir, meta["device"], meta)
    for e in summarise(args.table, results):
        if "skipped" in e:
            print(f"{e['row']:<32} {e['skipped']}", flush=True)
        else:
            print(f"{e['row']:<32} AUC {e['auc']:.4f} ± {e['auc_sd']:.4f}  Logloss {e['logloss']:.4f}", flush=True)
    print("results: " + ", ".join(paths.values()), flush=True)
    return {"paths": paths, "results": results}


__all__ = [
    "FinetuneBudget",
    "PROFILES",
    "Profile",
    "Row",
    "SWEEPS",
    "TABLES",
    "TABLE_TITLES",
    "device_tag",
    "main",
    "pretrain_key",
    "run_table",
    "summarise",
    "write_report",
]
