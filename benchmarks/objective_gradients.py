#!/usr/bin/env python
"""The gradient norm each pretraining objective (MLM, MTM, ICL; paper Section IV-C) sends into the ID
model and into the text model, for each MTM head input (`FlipConfig.mtm_head_input`): the literal
Eq. 8 head (the field MLPs read the attention output over the text only) and the authors' (the
masked ID representation concatenated with it). Measured at initialisation (the packaged MiniLM cut
to 2 layers, a fresh DCNv2) on batches of MovieLens-100K train rows; each objective is backpropagated
alone.

    python benchmarks/objective_gradients.py --batches 8 --batch_size 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import torch

from flip_hf import DataCollatorForFlipPretraining, FlipForPretraining, FlipTabularTokenizer, load_ctr_dataset
from flip_hf.models.configuration_flip import MTM_HEAD_INPUTS
from flip_hf.models.modeling_flip import truncate_text_layers
from flip_hf.packaged_plm import default_plm_path

OBJECTIVES = ("mlm_loss", "mtm_loss", "icl_loss")


def grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad.detach().float().norm() ** 2 for p in module.parameters() if p.grad is not None]
    return float(torch.stack(grads).sum().sqrt()) if grads else 0.0


def measure(head_input: str, tokenizer, features, args) -> dict[str, dict[str, float]]:
    torch.manual_seed(args.seed)
    model = FlipForPretraining.from_text_pretrained(default_plm_path(), tokenizer=tokenizer, mtm_head_input=head_input)
    truncate_text_layers(model, args.num_text_layers)
    collator = DataCollatorForFlipPretraining.from_config(tokenizer, model.config, seed=args.seed)
    per = {k: {"id_model": [], "text_model": []} for k in OBJECTIVES}
    for b in range(args.batches):
        batch = collator(features[b * args.batch_size : (b + 1) * args.batch_size])
        for objective in OBJECTIVES:
            model.zero_grad(set_to_none=True)
            getattr(model(**batch), objective).backward()
            per[objective]["id_model"].append(grad_norm(model.id_model))
            per[objective]["text_model"].append(grad_norm(model.text_model))
    return {k: {side: statistics.fmean(v) for side, v in sides.items()} for k, sides in per.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_text_layers", type=int, default=2)
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/objective_gradients")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    ds = load_ctr_dataset("movielens-100k")
    tokenizer = FlipTabularTokenizer.from_dataset(ds["train"], max_length=args.max_seq_length)
    rows = ds["train"].shuffle(seed=args.seed).select(range(args.batches * args.batch_size))
    enc = tokenizer.encode_dataset(rows, text=True)
    keys = ("feature_ids", "input_ids", "attention_mask", "token_field_ids")
    features = [{k: enc[i][k] for k in keys} for i in range(len(enc))]
    results = {head: measure(head, tokenizer, features, args) for head in MTM_HEAD_INPUTS}
    lines = [
        "# Gradient norm of each pretraining objective, at initialisation",
        "",
        "Command: `python benchmarks/objective_gradients.py "
        f"--batches {args.batches} --batch_size {args.batch_size}`  ",
        f"MovieLens-100K train rows, packaged MiniLM cut to {args.num_text_layers} layers, a fresh DCNv2; the L2 norm "
        f"of the gradient on each encoder's parameters, each objective backpropagated alone, mean over {args.batches} "
        f"batches of {args.batch_size}.",
        "",
        "| mtm_head_input | objective | into the ID model | into the text model |",
        "|---|---|---|---|",
    ]
    for head, per in results.items():
        for objective, sides in per.items():
            lines.append(f"| {head} | {objective} | {sides['id_model']:.4f} | {sides['text_model']:.4f} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(f"{args.output}.json", "w", encoding="utf-8") as fh:
        json.dump({"args": vars(args), "results": results}, fh, indent=2)
    with open(f"{args.output}.md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    return results


if __name__ == "__main__":
    main()
