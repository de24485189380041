#!/usr/bin/env python
"""Serving speed side by side in one run (issue #26): rows/s and p50/p99 latency at batch 1, 64 and
4,096 for FLIP_ID in eager PyTorch (the ``ctr-prediction`` pipeline), the exported FLIP_ID on
onnxruntime, joint FLIP (what the language model costs; paper Section IV-C: FLIP_ID serves without
it) and a plain DCNv2 of the same size as the reference. Every figure includes the encoding of raw
rows (MovieLens-100K test rows as a list of dicts, as a service receives JSON rows); its share of
the time is reported. A DataFrame input costs about 0.6-0.9 ms more per call (pandas column access).

    python benchmarks/serving_speed.py [--threads 1] [--joint_batch_sizes 1 64 4096] [--out benchmarks/results]

Weights are random (speed does not depend on them). Writes serving_speed.json and serving_speed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from flip_hf import FlipConfig, FlipForCTR, FlipTabularTokenizer, build_id_model, ctr_pipeline, load_ctr_dataset
from flip_hf.serving.export import OnnxIDModel, export_id_onnx

BATCH_SIZES = (1, 64, 4096)


def time_calls(fn, rows, reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn(rows)
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(rows)
        out.append(time.perf_counter() - start)
    return out


def summary(seconds: list[float], batch: int, encode: list[float] | None = None) -> dict:
    s = np.asarray(seconds)
    row = {
        "batch": batch,
        "calls": len(s),
        "rows_per_s": round(batch / float(s.mean()), 1),
        "p50_ms": round(1e3 * float(np.percentile(s, 50)), 3),
        "p99_ms": round(1e3 * float(np.percentile(s, 99)), 3),
    }
    if encode is not None:
        row["encode_share"] = round(float(np.mean(encode)) / float(s.mean()), 3)
    return row


def reps_for(batch: int, joint: bool = False) -> int:
    return ({1: 50, 64: 10, 4096: 2} if joint else {1: 300, 64: 100, 4096: 10})[batch]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and onnxruntime")
    parser.add_argument("--joint_batch_sizes", type=int, nargs="*", default=[1, 64, 4096])
    parser.add_argument("--joint_reps", type=int, default=None, help="calls per joint batch size (default 50/10/2)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = load_ctr_dataset("movielens-100k")
    tokenizer = FlipTabularTokenizer.from_dataset(data["train"])
    test = data["test"].to_pandas().drop(columns=["label"])
    frames = {b: test.iloc[:b].to_dict("records") for b in BATCH_SIZES}
    results: dict[str, list[dict]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        # FLIP_ID: the default DCNv2 of the paper's setting, saved and served by the pipeline
        flip_id = FlipForCTR(FlipConfig.from_tokenizer(tokenizer, mode="id"))
        flip_id.save_pretrained(os.path.join(tmp, "flip_id"))
        tokenizer.save_pretrained(os.path.join(tmp, "flip_id"))
        ctr = ctr_pipeline(os.path.join(tmp, "flip_id"), device="cpu")
        export_id_onnx(ctr.model, tokenizer, os.path.join(tmp, "onnx"))
        onnx_model = OnnxIDModel(os.path.join(tmp, "onnx"), threads=args.threads)

        # the reference: a plain DCNv2 of the same size on the tokenizer's feature ids, no FLIP wrapper
        config = flip_id.config
        shared = {"embedding_dim": config.id_embedding_dim, "mlp_hidden_sizes": tuple(config.id_mlp_hidden_sizes)}
        dcnv2 = build_id_model("dcnv2", len(config.field_names), config.feature_vocab_size, shared=shared)
        head = nn.Linear(dcnv2.output_dim, 1)
        dcnv2.eval()

        def plain_dcnv2(rows):
            with torch.no_grad():
                return torch.sigmoid(head(dcnv2(tokenizer.encode_features(rows))).squeeze(-1))

        joint = FlipForCTR.from_text_pretrained(tokenizer=tokenizer, mode="joint")
        joint.save_pretrained(os.path.join(tmp, "joint"))
        tokenizer.save_pretrained(os.path.join(tmp, "joint"))
        joint_ctr = ctr_pipeline(os.path.join(tmp, "joint"), device="cpu")

        def pipeline_encoding(rows):  # what FlipForCTR.predict_proba encodes for an ID-only model
            return tokenizer(tokenizer.field_columns(rows), text=False, padding=True, return_tensors="pt")

        # parity of the served paths on these rows
        rows = frames[4096]
        eager = np.asarray(ctr(rows, batch_size=4096))
        parity = float(np.abs(onnx_model.predict_proba(rows).astype(np.float64) - eager).max())

        for name, fn, encode, sizes in (
            ("FLIP_ID eager (pipeline)", lambda r: ctr(r, batch_size=len(r)), pipeline_encoding, BATCH_SIZES),
            ("FLIP_ID onnxruntime", lambda r: onnx_model.predict_proba(r, batch_size=len(r)), onnx_model.encoder.encode,
             BATCH_SIZES),
            ("DCNv2 plain eager (reference)", plain_dcnv2, tokenizer.encode_features, BATCH_SIZES),
            ("FLIP joint eager (pipeline)", lambda r: joint_ctr(r, batch_size=len(r)), None,
             tuple(args.joint_batch_sizes)),
        ):  # fmt: skip
            results[name] = []
            for b in sizes:
                reps = (args.joint_reps if encode is None else None) or reps_for(b, joint=encode is None)
                seconds = time_calls(fn, frames[b], reps, warmup=1 if b == 4096 and encode is None else 2)
                enc = time_calls(encode, frames[b], max(3, reps // 5)) if encode is not None else None
                results[name].append(summary(seconds, b, enc))
                print(name, results[name][-1], flush=True)

    report = {
        "command": "python " + " ".join(["benchmarks/serving_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "threads": args.threads,
        "torch": torch.__version__,
        "onnx_vs_eager_max_abs_diff": parity,
        "data": "MovieLens-100K test rows as a list of dicts (8 fields), raw cells encoded in every call",
        "results": results,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "serving_speed.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    lines = [
        "# Serving speed (`benchmarks/serving_speed.py`)",
        "",
        f"Command: `{report['command']}`. Machine: {report['machine']}; {args.threads} intra-op thread(s); "
        f"torch {torch.__version__}. {report['data']}. ONNX vs eager max abs difference: {parity:.2e}.",
        "",
        "| path | batch | rows/s | p50 ms | p99 ms | encoding share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, rows_ in results.items():
        for r in rows_:
            share = f"{r['encode_share']:.0%}" if "encode_share" in r else "n/a"
            lines.append(f"| {name} | {r['batch']} | {r['rows_per_s']:,} | {r['p50_ms']} | {r['p99_ms']} | {share} |")
    with open(os.path.join(args.out, "serving_speed.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
