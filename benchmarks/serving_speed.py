#!/usr/bin/env python
"""Serving speed side by side in one run (issue #26): rows/s and p50/p99 latency at batch 1, 64 and
4,096 for FLIP_ID in eager PyTorch (the ``ctr-prediction`` pipeline), the exported FLIP_ID on
onnxruntime, joint FLIP (what the language model costs; paper Section IV-C: FLIP_ID serves without
it) and a plain DCNv2 of the same size as the reference. Every call starts from raw rows
(MovieLens-100K test rows as a list of dicts, as a service receives JSON rows).

Method. Each call is split into stages measured inside it: *encode* (raw rows to model inputs: the
tokenizer's call, ``encode_features`` or the ONNX ``IDViewEncoder``), *model* (the forward pass or the
onnxruntime session) and *other* (the rest of the call: the pipeline's batching, checks, output
conversion). The three ID-side paths take turns in 20 rounds (a block of calls each, in a rotating
order): a slow spell of the machine hits all of them alike, while back-to-back calls within a block keep
each path's caches as warm as a service's would be. Every ID-side size gets at least 100 calls, so
p99 is a percentile, not the maximum. Joint FLIP is timed afterwards with fewer calls (a 4,096-row call
takes minutes); its p99 is left out below 100 calls.

    python benchmarks/serving_speed.py [--threads 1] [--joint_batch_sizes 1 64 4096] [--out benchmarks/results]

Weights are random (speed does not depend on them). Writes serving_speed.json and serving_speed.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np
import torch
from torch import nn

from flip_hf import FlipConfig, FlipForCTR, FlipTabularTokenizer, build_id_model, ctr_pipeline, load_ctr_dataset
from flip_hf.serving.export import IDViewEncoder, OnnxIDModel, export_id_onnx

BATCH_SIZES = (1, 64, 4096)
ID_CALLS = {1: 1000, 64: 300, 4096: 100}
JOINT_CALLS = {1: 100, 64: 10, 4096: 1}
ROUNDS = 20
"""ID-side calls of a size run in this many rounds; a round runs a block of calls of each path in turn."""
PERCENTILE_MIN_CALLS = 100
STAGES = ("encode", "model", "other")


class StageClock:
    """Seconds spent in named stages during the current call (`timed` wraps what a stage calls)."""

    def __init__(self):
        self.spent: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.spent.clear()

    def timed(self, stage: str, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[stage] += time.perf_counter() - start

        return wrapper


@contextlib.contextmanager
def patched(owner, name: str, replacement):
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


class Path:
    """One serving path: a call on raw rows, with its stages recorded call by call."""

    def __init__(self, name: str, call, clock: StageClock):
        self.name, self.call, self.clock = name, call, clock
        self.records: dict[int, list[dict[str, float]]] = defaultdict(list)

    def run(self, rows: list[dict], record: bool = True) -> None:
        self.clock.reset()
        start = time.perf_counter()
        self.call(rows)
        total = time.perf_counter() - start
        if record:
            spent = dict(self.clock.spent)
            self.records[len(rows)].append(
                {"total": total, "encode": spent.get("encode", 0.0), "model": spent.get("model", 0.0)}
            )

    def summary(self, batch: int) -> dict:
        calls = self.records[batch]
        total = np.array([c["total"] for c in calls])
        mean = {s: float(np.mean([c[s] for c in calls])) for s in ("encode", "model")}
        mean["other"] = float(total.mean()) - mean["encode"] - mean["model"]
        out = {
            "batch": batch,
            "calls": len(calls),
            "rows_per_s": round(batch / float(total.mean()), 1),
            "mean_ms": round(1e3 * float(total.mean()), 3),
            "p50_ms": round(1e3 * float(np.percentile(total, 50)), 3),
            "p99_ms": round(1e3 * float(np.percentile(total, 99)), 3) if len(calls) >= PERCENTILE_MIN_CALLS else None,
        }
        out.update({f"{s}_share": round(mean[s] / float(total.mean()), 3) for s in STAGES})
        return out


def model_clock(model: nn.Module, clock: StageClock) -> None:
    """Time ``model``'s forward passes as the "model" stage (forward hooks: no change to the model)."""
    starts: list[float] = []
    model.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter()))

    def stop(*_):
        clock.spent["model"] += time.perf_counter() - starts.pop()

    model.register_forward_hook(stop)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and onnxruntime")
    parser.add_argument("--joint_batch_sizes", type=int, nargs="*", default=list(BATCH_SIZES))
    parser.add_argument(
        "--id_calls_scale", type=float, default=1.0, help="scale the ID-side call counts (a quick look)"
    )
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = load_ctr_dataset("movielens-100k")
    tokenizer = FlipTabularTokenizer.from_dataset(data["train"])
    test = data["test"].to_pandas().drop(columns=["label"])
    frames = {b: test.iloc[:b].to_dict("records") for b in BATCH_SIZES}
    clock = StageClock()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as patches:
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
        plain = nn.Sequential(dcnv2, head).eval()

        def plain_dcnv2(rows):
            with torch.no_grad():
                return torch.sigmoid(plain(tokenizer.encode_features(rows)).squeeze(-1))

        joint = FlipForCTR.from_text_pretrained(tokenizer=tokenizer, mode="joint")
        joint.save_pretrained(os.path.join(tmp, "joint"))
        tokenizer.save_pretrained(os.path.join(tmp, "joint"))
        joint_ctr = ctr_pipeline(os.path.join(tmp, "joint"), device="cpu")

        # parity of the served paths on these rows (before any timing wrapper)
        eager = np.asarray(ctr(frames[4096], batch_size=4096))
        parity = float(np.abs(onnx_model.predict_proba(frames[4096]).astype(np.float64) - eager).max())

        # stages: the pipelines' tokenizer calls and the plain path's encode_features are "encode"
        patches.enter_context(
            patched(FlipTabularTokenizer, "__call__", clock.timed("encode", FlipTabularTokenizer.__call__))
        )
        patches.enter_context(
            patched(
                FlipTabularTokenizer, "encode_features", clock.timed("encode", FlipTabularTokenizer.encode_features)
            )
        )
        patches.enter_context(patched(IDViewEncoder, "encode", clock.timed("encode", IDViewEncoder.encode)))
        patches.enter_context(patched(OnnxIDModel, "predict_ids", clock.timed("model", OnnxIDModel.predict_ids)))
        for model in (ctr.model, plain, joint_ctr.model):
            model_clock(model, clock)

        id_paths = [
            Path("FLIP_ID eager (pipeline)", lambda r: ctr(r, batch_size=len(r)), clock),
            Path("FLIP_ID onnxruntime", lambda r: onnx_model.predict_proba(r, batch_size=len(r)), clock),
            Path("DCNv2 plain eager (reference)", plain_dcnv2, clock),
        ]
        for b in BATCH_SIZES:
            for path in id_paths:  # warm-up
                for _ in range(2):
                    path.run(frames[b], record=False)
            calls = max(1, round(ID_CALLS[b] * args.id_calls_scale))
            block = max(1, calls // ROUNDS)
            for i in range(-(-calls // block)):
                for k in range(len(id_paths)):
                    for _ in range(min(block, calls - i * block)):
                        id_paths[(i + k) % len(id_paths)].run(frames[b])
            for path in id_paths:
                print(path.name, path.summary(b), flush=True)
        joint_path = Path("FLIP joint eager (pipeline)", lambda r: joint_ctr(r, batch_size=len(r)), clock)
        joint_path.run(frames[1], record=False)  # warm-up (one 4,096-row call takes minutes)
        for b in args.joint_batch_sizes:
            for _ in range(JOINT_CALLS[b]):
                joint_path.run(frames[b])
            print(joint_path.name, joint_path.summary(b), flush=True)

    results = {p.name: [p.summary(b) for b in sorted(p.records)] for p in (*id_paths, joint_path)}
    report = {
        "command": "python " + " ".join(["benchmarks/serving_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "threads": args.threads,
        "torch": torch.__version__,
        "onnx_vs_eager_max_abs_diff": parity,
        "data": "MovieLens-100K test rows as a list of dicts (8 fields), raw cells encoded in every call",
        "method": "stages timed inside each call; ID-side paths in turn, 20 rounds of blocks; p99 from >= 100 calls",
        "results": results,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "serving_speed.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    lines = [
        "# Serving speed (`benchmarks/serving_speed.py`)",
        "",
        f"Command: `{report['command']}`. Machine: {report['machine']}; {args.threads} intra-op thread(s); "
        f"torch {torch.__version__}. {report['data']}. ONNX vs eager max abs difference: {parity:.2e}. "
        f"Method: {report['method']} (p99 blank below {PERCENTILE_MIN_CALLS} calls).",
        "",
        "| path | batch | calls | rows/s | mean ms | p50 ms | p99 ms | encode | model | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows_ in results.items():
        for r in rows_:
            p99 = "" if r["p99_ms"] is None else r["p99_ms"]
            shares = " | ".join(f"{r[f'{s}_share']:.0%}" for s in STAGES)
            lines.append(
                f"| {name} | {r['batch']} | {r['calls']} | {r['rows_per_s']:,} | {r['mean_ms']} | {r['p50_ms']} "
                f"| {p99} | {shares} |"
            )
    with open(os.path.join(args.out, "serving_speed.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
