#!/usr/bin/env python
"""The paper's Table II row set for one data set: plain DCNv2, FLIP_ID, FLIP_PLM and FLIP.

Sized for ONE device call of at most 9 minutes on an H100/H200 for MovieLens-1M:
SPEC section 5 hyperparameters, except 5 pretraining epochs instead of 30. ENV_NOTES measures
14-20k samples/s for a FLIP step with a MiniLM-sized encoder in bf16 on an H200, so one
665k-row epoch takes about 35-50 s and 5 epochs about 3-4 min. The rest is encoding (~1 min),
two text finetunes of 1 epoch (~1-2 min) and the ID models (<1 min).

GPU (device tool; see benchmarks/device_reproduce.sh):
    python benchmarks/reproduce.py --data_dir ../shared/data/ml-1m --plm .device_carry/minilm-bf16 --bf16
CPU smoke run (no GPU; checks the pipeline only):
    python benchmarks/reproduce.py --smoke

Writes benchmarks/results/reproduce_<dataset>_<device>.{md,json} (the device is named in the file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_ML1M = {
    "DCNv2": (0.8548, 0.3893),
    "FLIP_ID": (0.8600, 0.3802),
    "FLIP_PLM": (0.8456, 0.4161),
    "FLIP": (0.8621, 0.3788),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="movielens-1m")
    parser.add_argument("--data_dir", default=os.path.join(ROOT, "..", "shared", "data", "ml-1m"))
    parser.add_argument("--plm", default=None)
    parser.add_argument("--pretrain_epochs", type=float, default=5)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="CPU smoke run: MovieLens-100K subset, tiny budget.")
    parser.add_argument("--work_dir", default="/tmp/flip_reproduce")
    args = parser.parse_args(argv)

    from flip_hf import demo
    if args.smoke:
        demo_args = [
            "--profile",
            "quick",
            "--dataset",
            "movielens-100k",
            "--train_samples",
            "1500",
            "--max_eval_samples",
            "1000",
            "--pretrain_epochs",
            "1",
        ]
    else:
        demo_args = [
            "--profile",
            "paper",
            "--dataset",
            args.dataset,
            "--data_dir",
            args.data_dir,
            "--pretrain_epochs",
            str(args.pretrain_epochs),
        ]
        if args.bf16:
            demo_args.append("--bf16")
    if args.plm:
        demo_args += ["--plm", args.plm]
    shutil.rmtree(args.work_dir, ignore_errors=True)
    rows = demo.main(demo_args + ["--output_dir", args.work_dir])
    with open(os.path.join(args.work_dir, "results.json"), encoding="utf-8") as fh:
        run = json.load(fh)
    device = re.sub(r"[^A-Za-z0-9]+", "-", run["device"].split(" (")[0]).strip("-").lower()
    dataset = "movielens-100k-smoke" if args.smoke else args.dataset
    stem = os.path.join(ROOT, "benchmarks", "results", f"reproduce_{dataset}_{device}")
    lines = [
        f"# Table II reproduction: {dataset}",
        "",
        f"Device: {run['device']}",
        "",
        f"Pretraining: {run['pretrain']['train_samples']} rows, {run['profile_settings']['pretrain']['epochs']} epochs, "
        f"{run['pretrain']['train_time_s']:.0f} s; final losses {run['pretrain']['final_losses']}",
        "",
        "| model | AUC | Logloss | paper AUC (ML-1M) | paper Logloss | train time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        key = r["model"].split(" ")[0]
        paper = PAPER_ML1M.get(key, (float("nan"), float("nan")))
        lines.append(
            f"| {r['model']} | {r['auc']:.4f} | {r['logloss']:.4f} | {paper[0]:.4f} | {paper[1]:.4f} | {r['train_time_s']:.1f} |"
        )
    if args.smoke:
        lines += [
            "",
            "Smoke run on a CPU: a 1,500-row subset, 2-layer MiniLM, 1 epoch. It checks the pipeline; "
            "its numbers are not a reproduction.",
        ]
    os.makedirs(os.path.dirname(stem), exist_ok=True)
    with open(stem + ".md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(stem + ".json", "w", encoding="utf-8") as fh:
        json.dump(run, fh, indent=2, default=str)
    print("\n".join(lines))
    print(f"written: {stem}.md / .json")


if __name__ == "__main__":
    main()
