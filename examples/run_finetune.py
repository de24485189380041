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
import sys
import time
from dataclasses import dataclass, field

from transformers import HfArgumentParser, TrainingArguments, set_seed

from flip_hf import DataCollatorForCTR, FlipConfig, FlipForCTR, FlipTabularTokenizer
from flip_hf.hub import build_model_card, save_model_card
from flip_hf.metrics import compute_ctr_metrics
from flip_hf.modeling_flip import truncate_text_layers
from flip_hf.training import DataArguments, launcher_defaults, FlipTrainer, fit_tokenizer, load_data, write_results

logger = logging.getLogger("run_finetune")


@dataclass
class FinetuneArguments:
    pretrained_dir: str | None = field(default=None, metadata={"help": "A run_pretrain.py output folder."})
    mode: str = field(default="joint", metadata={"help": "joint (FLIP) | id (FLIP_ID) | plm (FLIP_PLM)"})
    text_learning_rate: float | None = field(default=5e-5, metadata={"help": "Learning rate of the text encoder."})
    plm: str | None = field(default=None, metadata={"help": "Without --pretrained_dir: local text encoder (default packaged MiniLM)."})
    id_model: str = field(default="dcnv2", metadata={"help": "Without --pretrained_dir: the ID model."})
    num_text_layers: int | None = field(default=None, metadata={"help": "Without --pretrained_dir: keep the first N encoder layers."})
    alpha_init: float = field(default=0.5)


FINETUNE_DEFAULTS = dict(  # SPEC section 5: Adam, batch 256, lr from {1e-5 ... 5e-3}
    output_dir="runs/finetune",
    per_device_train_batch_size=256,
    per_device_eval_batch_size=1024,
    learning_rate=1e-3,
    num_train_epochs=1,
    weight_decay=0.0,
    optim="adamw_torch",
    lr_scheduler_type="constant",
    logging_steps=50,
    save_strategy="no",
    eval_strategy="no",
    report_to="none",
    remove_unused_columns=False,
    label_names=["labels"],
)


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
    parser = HfArgumentParser((FinetuneArguments, DataArguments, TrainingArguments))
    parser.set_defaults(**FINETUNE_DEFAULTS, **launcher_defaults())
    ft_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    if ft_args.mode not in ("joint", "id", "plm"):
        raise ValueError(f"--mode must be joint, id or plm, got {ft_args.mode!r}.")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO, stream=sys.stdout)
    set_seed(training_args.seed)

    ds = load_data(data_args)
    model, tokenizer = build_model(ft_args, ds, data_args)
    model.config.check_tokenizer(tokenizer)
    text = ft_args.mode != "id"
    with training_args.main_process_first(desc="encoding"):
        encoded = tokenizer.encode_dataset(ds, text=text)
    logger.info("%s mode=%s: %d train / %d test rows, %d parameters", data_args.dataset, ft_args.mode,
                len(ds["train"]), len(ds["test"]), model.num_parameters())

    trainer = FlipTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["test"],
        data_collator=DataCollatorForCTR(tokenizer, text=text),
        compute_metrics=compute_ctr_metrics,
        processing_class=tokenizer,
        text_learning_rate=ft_args.text_learning_rate if text else None,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    metrics = trainer.evaluate(metric_key_prefix="test")
    eval_time = time.perf_counter() - start
    results = {
        "auc": metrics["test_auc"],
        "logloss": metrics["test_logloss"],
        "mode": ft_args.mode,
        "dataset": data_args.dataset,
        "pretrained_dir": ft_args.pretrained_dir,
        "id_model": model.config.id_model,
        "train_samples": len(ds["train"]),
        "test_samples": len(ds["test"]),
        "epochs": training_args.num_train_epochs,
        "learning_rate": training_args.learning_rate,
        "text_learning_rate": ft_args.text_learning_rate if text else None,
        "batch_size": training_args.per_device_train_batch_size,
        "train_time_s": round(train_time, 2),
        "eval_time_s": round(eval_time, 2),
        "train_samples_per_second": train_result.metrics.get("train_samples_per_second"),
    }
    if ft_args.mode == "joint":
        results["alpha"] = float(model.alpha.detach())
    trainer.save_model(training_args.output_dir)
    if training_args.should_save:
        write_results(training_args.output_dir, results)
        hyper = {k: results[k] for k in ("epochs", "learning_rate", "text_learning_rate", "batch_size", "train_samples")}
        card = build_model_card(model.config, results, data_args.dataset, hyper, pretrained_from=ft_args.pretrained_dir)
        save_model_card(training_args.output_dir, card)
        if training_args.push_to_hub:
            trainer.push_to_hub(commit_message=f"{ft_args.mode} finetuned, test AUC {results['auc']:.4f}")
    logger.info("test AUC %.4f  Logloss %.4f  (%s)", results["auc"], results["logloss"], ft_args.mode)
    return results


if __name__ == "__main__":
    main()
