"""One plain-SGD optimizer step through the HF Trainer, for the loss-scaling tests of test_training_layouts.py.

`one_step(case, layout, out_dir)` trains a tiny FLIP model for exactly one optimizer step on a table of
2B rows and saves its parameters. Layouts: ``single`` (one batch of 2B rows), ``accumulate`` (two
accumulated batches of B) and ``ddp`` (two processes of B rows each; run this file with
``torchrun --standalone --nproc_per_node 2 tests/_sgd_step.py OUT_DIR``). With exact loss scaling the
three layouts give the same parameters.
"""

from __future__ import annotations

import json
import os
import sys

import torch
from safetensors.torch import save_file
from synthetic import make_table  # tests/ is on sys.path: pytest's rootdir, or this script's folder
from transformers import AutoTokenizer, BertConfig, BertModel, TrainingArguments

from flip_hf import (
    DataCollatorForCTR,
    DataCollatorForFlipPretraining,
    FlipConfig,
    FlipForCTR,
    FlipForPretraining,
    FlipTabularTokenizer,
    default_plm_path,
)
from flip_hf.training.trainer import FlipPretrainingTrainer, FlipTrainer

B = 8
CASES = {  # name -> (model kind, FlipConfig overrides)
    "ctr-joint": ("ctr", {"mode": "joint"}),
    "ctr-id": ("ctr", {"mode": "id"}),
    "ctr-plm": ("ctr", {"mode": "plm"}),
    "pretrain": ("pretrain", {}),
    "pretrain-no-icl": ("pretrain", {"use_icl": False}),
}
LAYOUTS = {"single": (2 * B, 1), "accumulate": (B, 2), "ddp": (B, 1)}  # per-device batch, accumulation


def build(case: str):
    kind, overrides = CASES[case]
    text_tokenizer = AutoTokenizer.from_pretrained(default_plm_path())
    table = make_table(2 * B, seed=4, missing=False)
    tokenizer = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer)
    torch.manual_seed(0)
    text_config = BertConfig(
        vocab_size=len(text_tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    small = {"id_embedding_dim": 4, "id_mlp_hidden_sizes": [8]}
    config = FlipConfig.from_tokenizer(tokenizer, text_config=text_config, **small, **overrides)
    if kind == "ctr":
        model = FlipForCTR(config, text_model=None if config.mode == "id" else BertModel(text_config))
        collator = DataCollatorForCTR(tokenizer, text=config.mode != "id")
    else:
        model = FlipForPretraining(config, text_model=BertModel(text_config))
        collator = DataCollatorForFlipPretraining.from_config(tokenizer, config)
    import datasets

    data = tokenizer.encode_dataset(datasets.Dataset.from_dict(table), text=kind == "pretrain" or config.mode != "id")
    return kind, model, collator, data


def one_step(case: str, layout: str, out_dir: str) -> dict:
    kind, model, collator, data = build(case)
    batch, accumulation = LAYOUTS[layout]
    args = TrainingArguments(
        output_dir=os.path.join(out_dir, f"run-{case}-{layout}"), per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation, max_steps=1, optim="sgd", learning_rate=0.5,
        lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=0.0, save_strategy="no", report_to="none",
        use_cpu=True, seed=0, logging_steps=1, disable_tqdm=True, remove_unused_columns=False,
        label_names=["labels"] if kind == "ctr" else None, dataloader_pin_memory=False,
        ddp_backend="gloo" if layout == "ddp" else None,
    )  # fmt: skip
    trainer_class = FlipTrainer if kind == "ctr" else FlipPretrainingTrainer
    trainer = trainer_class(model=model, args=args, train_dataset=data, data_collator=collator)
    result = trainer.train()
    if trainer.args.process_index == 0:
        params = {k: v.detach().contiguous() for k, v in trainer.model.state_dict().items()}
        save_file(params, os.path.join(out_dir, f"{case}-{layout}.safetensors"))
    return {"train_loss": result.training_loss, "world_size": trainer.args.world_size}


if __name__ == "__main__":  # the ddp layout, every case
    out = sys.argv[1]
    report = {case: one_step(case, "ddp", out) for case in CASES}
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(report))
