"""Speed and peak memory of one FLIP pretraining step (forward + backward + AdamW).

Variants, each measured in its own subprocess (so that each peak-memory figure is its own):

* ``flip``          FlipForPretraining, all three objectives, MLM head on MASKED positions only
                    and its vocabulary projection tied to the input embeddings (the defaults).
* ``flip_untied``   the same with an untied MLM decoder (``tie_mlm_decoder=False``).
* ``flip_all_pos``  the same step, but the MLM head projects EVERY position to the vocabulary and
                    then selects the masked ones (what a `BertForMaskedLM`-style head does).
* ``plain``         the text encoder alone, forward + backward + AdamW over the 2B rows FLIP
                    encodes (clean + masked prompts concatenated: ONE encoder call on 2B rows,
                    which is how FlipForPretraining runs it); the loss is a trivial scalar
                    (mean square of the [CLS] states), so this is the encoder's own cost.
* ``plain_2x``      the same two views as TWO encoder calls of B rows each (one backward).

Ratios reported: flip / plain (target <= 1.25), flip_untied / flip and flip_all_pos / flip.

Data: real MovieLens prompts (train rows of ``--dataset``; the embedded MovieLens-100K by default),
tokenizer fitted on the train split, FLIP's field-level masking collator; every step gets a new
batch (same batches for every variant), dynamically padded.

CPU (default):  python benchmarks/pretrain_speed.py --warmup 3 --steps 5
                (add ``--threads 1`` on a shared machine: two OpenMP threads competing with another
                process make every op many times slower and the timings meaningless)
GPU:            python benchmarks/pretrain_speed.py --device cuda --bf16 --batch_size 1024 \\
                    --dataset movielens-1m --data_dir /path/to/ml-1m
                (on the device machine the project is on PYTHONPATH: see benchmarks/device_tables.sh)

Writes ``benchmarks/results/pretrain_speed_<device>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("plain", "plain_2x", "flip", "flip_untied", "flip_all_pos")


# ------------------------------------------------------------------------------------- memory
def _proc_status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        kb = _proc_status_kb("VmRSS")
        return kb / 1024 if kb is not None else float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM), in MiB."""
    kb = _proc_status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024


class RSSSampler:
    """Peak RSS over a region, sampled every ``interval`` s by a thread (psutil or /proc)."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_mb())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = current_rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mb())


# ------------------------------------------------------------------------------------- worker
def build_batches(args):
    """The tokenizer and ``warmup + steps`` collated pretraining batches of real prompts."""
    import numpy as np
    from transformers import AutoTokenizer

    from flip_hf import (
        DataCollatorForFlipPretraining,
        FlipConfig,
        FlipTabularTokenizer,
        default_plm_path,
        load_ctr_dataset,
    )

    ds = load_ctr_dataset(args.dataset, data_dir=args.data_dir)
    train = ds["train"]
    text_tokenizer = AutoTokenizer.from_pretrained(args.plm_path or default_plm_path())
    tok = FlipTabularTokenizer.from_dataset(train, text_tokenizer=text_tokenizer, max_length=args.max_seq_length)
    n = args.batch_size * (args.warmup + args.steps)
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(train), size=n, replace=n > len(train))
    rows = train.select(idx.tolist())[:]  # dict of lists
    enc = tok(rows, text=True)
    keys = ("feature_ids", "input_ids", "attention_mask", "token_field_ids")
    features = [{k: enc[k][i] for k in keys} for i in range(n)]
    collator = DataCollatorForFlipPretraining.from_config(
        tok, FlipConfig(), seed=args.seed, pad_to_multiple_of=args.pad_to_multiple_of
    )
    batches = [collator(features[i : i + args.batch_size]) for i in range(0, n, args.batch_size)]
    return tok, batches


def make_all_positions_head(head, text_config):
    """A copy of ``head`` (a MaskedLanguageHead, same weights, tied) that projects ALL positions to the
    vocabulary and then selects the masked ones."""
    import torch
    import torch.nn.functional as F

    from flip_hf.models.pretraining_heads import MaskedLanguageHead, mean_of_row_means

    class AllPositionsLanguageHead(MaskedLanguageHead):
        def forward(self, w_hat, v, labels, input_embeddings=None):
            b, length, _ = w_hat.shape
            states = w_hat
            if self.d_tab:
                states = torch.cat([states, v[:, None, :].to(states.dtype).expand(b, length, -1)], dim=-1)
            hidden = self.norm(self.act(self.dense(states)))
            logits = F.linear(hidden, input_embeddings.to(hidden.dtype), self.bias)  # (B, L, V): every position
            rows, cols = (labels != -100).nonzero(as_tuple=True)
            token_loss = F.cross_entropy(logits[rows, cols].float(), labels[rows, cols], reduction="none")
            return mean_of_row_means(token_loss, rows, b)

    d_text = head.dense.out_features
    new = AllPositionsLanguageHead(d_text, head.d_tab, text_config, tied=True)
    new.load_state_dict(head.state_dict())
    return new


def worker(args) -> dict:
    import torch

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    tok, batches = build_batches(args)

    from flip_hf import FlipForPretraining, default_plm_path
    from flip_hf.models.plm import load_text_encoder

    plm_path = args.plm_path or default_plm_path()
    variant = args.worker
    if variant.startswith("flip"):
        tied = variant != "flip_untied"
        model = FlipForPretraining.from_text_pretrained(
            plm_path, tokenizer=tok, id_model=args.id_model, tie_mlm_decoder=tied
        )
        if args.num_text_layers:
            from flip_hf.models.modeling_flip import truncate_text_layers

            truncate_text_layers(model, args.num_text_layers)
        if variant == "flip_all_pos":
            masked_head = model.mlm_head
            model.mlm_head = make_all_positions_head(masked_head, model.text_model.config)
            with torch.no_grad():  # same loss as the masked-only head (sanity check)
                b = batches[0]
                w_hat = torch.randn(*b["input_ids"].shape, model.text_model.config.hidden_size)
                v = torch.randn(b["input_ids"].shape[0], model.id_model.output_dim)
                emb = model.text_model.get_input_embeddings().weight
                a = masked_head(w_hat, v, b["mlm_labels"], emb)
                c = model.mlm_head(w_hat, v, b["mlm_labels"], emb)
                assert torch.allclose(a, c, rtol=1e-4, atol=1e-4), (float(a), float(c))
    else:
        model = load_text_encoder(plm_path)
        if args.num_text_layers:
            from flip_hf.models.plm import truncate_layers

            truncate_layers(model, args.num_text_layers)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    params = sum(p.numel() for p in model.parameters())

    def step(batch):
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16):
            if variant.startswith("flip"):
                loss = model(**batch).loss
            elif variant == "plain":
                ids = torch.cat([batch["input_ids"], batch["masked_input_ids"]])
                mask = torch.cat([batch["attention_mask"], batch["attention_mask"]])
                loss = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0].float().pow(2).mean()
            else:  # plain_2x
                loss = sum(
                    model(input_ids=ids, attention_mask=batch["attention_mask"])
                    .last_hidden_state[:, 0]
                    .float()
                    .pow(2)
                    .mean()
                    for ids in (batch["input_ids"], batch["masked_input_ids"])
                )
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    setup_rss = current_rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for b in batches[: args.warmup]:
        step(b)
    sync()
    times = []
    with RSSSampler() as sampler:
        for b in batches[args.warmup :]:
            t0 = time.perf_counter()
            loss = step(b)
            sync()
            times.append(time.perf_counter() - t0)
    total = sum(times)
    lengths = [int(b["input_ids"].shape[1]) for b in batches[args.warmup :]]
    masked = [int((b["mlm_labels"] != -100).sum()) for b in batches[args.warmup :]]
    out = {
        "variant": variant,
        "params": params,
        "samples_per_s": args.batch_size * len(times) / total,
        "step_s_mean": total / len(times),
        "step_s_median": sorted(times)[len(times) // 2],
        "step_s_all": [round(t, 4) for t in times],
        "final_loss": float(loss.detach()),
        "padded_length_mean": sum(lengths) / len(lengths),
        "masked_tokens_per_batch_mean": sum(masked) / len(masked),
        "rss_after_setup_mb": round(setup_rss, 1),
        "peak_rss_timed_mb": round(sampler.peak, 1),
        "peak_rss_process_mb": round(peak_rss_mb(), 1),
    }
    if device.type == "cuda":
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


# ------------------------------------------------------------------------------------- driver
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--bf16", action="store_true", help="torch.autocast bf16")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--dataset", default="movielens-100k")
    p.add_argument("--data_dir", default=None)
    p.add_argument("--plm_path", default=None, help="text encoder folder (default: the packaged MiniLM)")
    p.add_argument("--id_model", default="dcnv2")
    p.add_argument("--max_seq_length", type=int, default=None)
    p.add_argument("--num_text_layers", type=int, default=None, help="keep the first N text layers")
    p.add_argument("--pad_to_multiple_of", type=int, default=None)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--output_dir", default=str(HERE / "results"))
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def machine_load() -> dict:
    info = {"cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        info["loadavg_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
        info["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except (OSError, AttributeError):
        pass
    return info


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    load_before = machine_load()
    results = {}
    for variant in args.variants:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *forwarded, "--worker", variant],
            capture_output=True,
            text=True,
            env=env,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
            raise SystemExit(f"variant {variant} failed (exit {proc.returncode})")
        results[variant] = json.loads(lines[-1][len("RESULT ") :])
        results[variant]["wall_s_with_setup"] = round(time.perf_counter() - t0, 1)
        r = results[variant]
        print(f"  {variant:<13} {r['samples_per_s']:9.1f} samples/s  step {r['step_s_mean']:.3f}s", flush=True)

    ratios = {}
    if "flip" in results and "plain" in results:
        ratios["flip_over_plain_time"] = results["flip"]["step_s_mean"] / results["plain"]["step_s_mean"]
    if "flip" in results and "plain_2x" in results:
        ratios["flip_over_plain_2x_time"] = results["flip"]["step_s_mean"] / results["plain_2x"]["step_s_mean"]
    if "flip" in results and "flip_untied" in results:
        ratios["untied_over_tied_time"] = results["flip_untied"]["step_s_mean"] / results["flip"]["step_s_mean"]
        ratios["untied_minus_tied_params"] = results["flip_untied"]["params"] - results["flip"]["params"]
    if "flip" in results and "flip_all_pos" in results:
        ratios["all_positions_over_masked_time"] = (
            results["flip_all_pos"]["step_s_mean"] / results["flip"]["step_s_mean"]
        )
    import torch
    import transformers

    report = {
        "settings": {k: v for k, v in vars(args).items() if k != "worker"},
        "plm_path": args.plm_path or "packaged all-MiniLM-L6-v2",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device_name": torch.cuda.get_device_name()
        if args.device == "cuda" and torch.cuda.is_available()
        else platform.processor(),
        "machine_load_before": load_before,
        "machine_load_after": machine_load(),
        "results": results,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "target": "flip_over_plain_time <= 1.25",
        "plain_definition": "plain = ONE encoder forward+backward+AdamW over 2B rows (clean + masked prompts "
        "concatenated, as FlipForPretraining encodes them); plain_2x = the two views as two calls of B rows",
    }
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, f"pretrain_speed_{args.device}.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)

    mem_key = "peak_gpu_memory_mb" if args.device == "cuda" else "peak_rss_timed_mb"
    print(
        f"\nFLIP pretraining step, batch {args.batch_size}, {args.dataset}, device {args.device}"
        f"{' bf16' if args.bf16 else ''}, {args.steps} timed steps after {args.warmup} warm-up"
    )
    print(
        f"load before: {load_before.get('loadavg_1_5_15')}  after: {report['machine_load_after'].get('loadavg_1_5_15')}"
    )
    print(f"| variant | samples/s | step (s) | peak mem (MiB, {mem_key}) | parameters | padded len |")
    print("|---|---|---|---|---|---|")
    for v, r in results.items():
        row = [f"{r['samples_per_s']:.1f}", f"{r['step_s_mean']:.3f}", f"{r[mem_key]:.0f}", f"{r['params']:,}"]
        print(f"| {v} | " + " | ".join(row) + f" | {r['padded_length_mean']:.1f} |")
    for k, v in report["ratios"].items():
        print(f"{k}: {v:.3f}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
