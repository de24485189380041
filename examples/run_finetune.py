#!/usr/bin/env python
"""Finetune FLIP (joint), FLIP_ID or FLIP_PLM for CTR (SPEC section 4) through the HF Trainer.

    python examples/run_finetune.py --pretrained_dir runs/pretrain --mode joint \
        --dataset movielens-100k --output_dir runs/flip

--pretrained_dir is a run_pretrain.py output (model + tokenizer). Without it, the model starts
from the plain encoders (mode id: the paper's plain ID baseline; mode plm: the plain PLM).
Writes test AUC / Logloss to <output_dir>/results.json, and saves model, tokenizer and a filled-in
model card (README.md). --push_to_hub / --hub_model_id upload that folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import TrainingArguments

from flip_hf import FlipConfig, FlipForCTR, FlipTabularTokenizer
from flip_hf.hub import add_auto_map, build_model_card, save_model_card
from flip_hf.modeling_flip import truncate_text_layers
from flip_hf.training import (
    CTR_TRAINING_DEFAULTS,
    DataArguments,
    fit_tokenizer,
    load_data,
    parse_script_args,
    train_and_evaluate_ctr,
    write_results,
)

logger = logging.getLogger("run_finetune")


@dataclass
class FinetuneArguments:
    pretrained_dir: str | None = field(default=None, metadata={"help": "A run_pretrain.py output folder."})
    mode: str = field(default="joint", metadata={"help": "joint (FLIP) | id (FLIP_ID) | plm (FLIP_PLM)"})
    text_learning_rate: float | None = field(default=5e-5, metadata={"help": "Learning rate of the text encoder."})
    plm: str | None = field(
        default=None, metadata={"help": "Without --pretrained_dir: local text encoder (default packaged MiniLM)."}
    )
    id_model: str = field(default="dcnv2", metadata={"help": "Without --pretrained_dir: the ID model."})
    num_text_layers: int | None = field(
        default=None, metadata={"help": "Without --pretrained_dir: keep the first N encoder layers."}
    )
    alpha_init: float = field(default=0.5)


FINETUNE_DEFAULTS = dict(CTR_TRAINING_DEFAULTS, output_dir="runs/finetune")  # lr 1e-3 from SPEC's grid


def build_model(args: FinetuneArguments, ds, data_args: DataArguments):
    """(model, tokenizer) from a pretraining folder, or from the plain encoders."""
    if args.pretrained_dir:
        tokenizer = FlipTabularTokenizer.from_pretrained(args.pretrained_dir)
        missing = [f for f in tokenizer.field_names if f not in ds["train"].column_names]
        if missing:
            raise ValueError(f"The pretrained tokenizer expects fields {missing} that the data set lacks.")
        model = FlipForCTR.from_pretrained(args.pretrained_dir, mode=args.mode, alpha_init=args.alpha_init)
        return model, tokenizer
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=args.plm)
    if args.mode == "id":
        config = FlipConfig.from_tokenizer(tokenizer, mode="id", id_model=args.id_model)
        return FlipForCTR(config), tokenizer
    model = FlipForCTR.from_text_pretrained(
        args.plm, tokenizer=tokenizer, id_model=args.id_model, mode=args.mode, alpha_init=args.alpha_init
    )
    if args.num_text_layers:
        truncate_text_layers(model, args.num_text_layers)
    return model, tokenizer


def main(argv=None):
    ft_args, data_args, training_args = parse_script_args(
        (FinetuneArguments, DataArguments, TrainingArguments), FINETUNE_DEFAULTS, argv
    )
    if ft_args.mode not in ("joint", "id", "plm"):
        raise ValueError(f"--mode must be joint, id or plm, got {ft_args.mode!r}.")
    ds = load_data(data_args)
    model, tokenizer = build_model(ft_args, ds, data_args)
    logger.info(
        "%s mode=%s: %d train / %d test rows, %d parameters",
        data_args.dataset,
        ft_args.mode,
        len(ds["train"]),
        len(ds["test"]),
        model.num_parameters(),
    )
    text = ft_args.mode != "id"
    results, trainer = train_and_evaluate_ctr(
        model, tokenizer, ds, training_args, text=text, text_learning_rate=ft_args.text_learning_rate
    )
    results.update(
        mode=ft_args.mode,
        dataset=data_args.dataset,
        pretrained_dir=ft_args.pretrained_dir,
        text_learning_rate=ft_args.text_learning_rate if text else None,
    )
    if ft_args.mode == "joint":
        results["alpha"] = float(model.alpha.detach())
    if training_args.should_save:
        write_results(training_args.output_dir, results)
        hyper = {
            k: results[k] for k in ("epochs", "learning_rate", "text_learning_rate", "batch_size", "train_samples")
        }
        card = build_model_card(model.config, results, data_args.dataset, hyper, pretrained_from=ft_args.pretrained_dir)
        save_model_card(training_args.output_dir, card)
        add_auto_map(training_args.output_dir)
        if training_args.push_to_hub:
            trainer.push_to_hub(commit_message=f"{ft_args.mode} finetuned, test AUC {results['auc']:.4f}")
    logger.info("test AUC %.4f  Logloss %.4f  (%s)", results["auc"], results["logloss"], ft_args.mode)
    return results


if __name__ == "__main__":
    main()
