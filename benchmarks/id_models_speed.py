"""Microbenchmark: forward+backward throughput of every registered ID model on CPU.

Batch 256, F=8 fields, M=17000 features (about MovieLens-1M's feature space), paper
defaults (embedding 32, DNN [300, 300, 128]), one Adam step per iteration with a
`Linear(output_dim, 1)` head and BCE loss.

    python benchmarks/id_models_speed.py [--models dcnv2 deepfm] [--iters 30]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from flip_hf.id_models import build_id_model, list_id_models


def bench(name: str, batch: int, num_fields: int, vocab: int, iters: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = build_id_model(name, num_fields, vocab)
    head = nn.Linear(model.output_dim, 1)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    ids = torch.randint(0, vocab, (iters + warmup, batch, num_fields))
    labels = torch.randint(0, 2, (iters + warmup, batch)).float()
    model.train()
    times = []
    for step in range(iters + warmup):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(head(model(ids[step])).squeeze(-1), labels[step])
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    # forward-only (eval, no grad) for serving cost
    model.eval()
    with torch.no_grad():
        t0 = time.perf_counter()
        for step in range(iters):
            head(model(ids[step]))
        fwd = (time.perf_counter() - t0) / iters
    times.sort()
    median = times[len(times) // 2]
    return {
        "model": name,
        "output_dim": model.output_dim,
        "params": sum(p.numel() for p in model.parameters()),
        "train_samples_per_s": batch / median,
        "train_ms_per_step": 1e3 * median,
        "eval_samples_per_s": batch / fwd,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--num-fields", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=17000)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, batch={args.batch}, "
        f"F={args.num_fields}, M={args.vocab}, train step = fwd+bwd+Adam"
    )
    print(f"{'model':<10} {'out_dim':>7} {'params':>10} {'train ms/step':>14} {'train samp/s':>13} {'eval samp/s':>12}")
    for name in args.models or list_id_models():
        r = bench(name, args.batch, args.num_fields, args.vocab, args.iters, args.warmup)
        print(
            f"{r['model']:<10} {r['output_dim']:>7} {r['params']:>10,} "
            f"{r['train_ms_per_step']:>14.2f} {r['train_samples_per_s']:>13,.0f} "
            f"{r['eval_samples_per_s']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
