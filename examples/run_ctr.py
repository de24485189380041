#!/usr/bin/env python
"""Train a plain ID-based CTR model (the paper's "N/A" baseline) with the HF Trainer.

    python examples/run_ctr.py --dataset movielens-1m --data_dir ../shared/data/ml-1m \
        --id_model dcnv2 --output_dir runs/dcnv2 --num_train_epochs 1

Writes test AUC / Logloss to <output_dir>/results.json and the model + tokenizer to <output_dir>.
Every `TrainingArguments` flag works (--learning_rate, --per_device_train_batch_size, ...).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from transformers import TrainingArguments

from flip_hf import FlipConfig, FlipForCTR
from flip_hf.id_models import list_id_models
from flip_hf.training import (
    CTR_TRAINING_DEFAULTS,
    DataArguments,
    fit_tokenizer,
    load_data,
    parse_script_args,
    train_and_evaluate_ctr,
    write_results,
)

logger = logging.getLogger("run_ctr")


@dataclass
class ModelArguments:
    id_model: str = field(default="dcnv2", metadata={"help": f"One of {list_id_models()}"})
    embedding_dim: int = field(default=32, metadata={"help": "ID embedding size."})
    mlp_hidden_sizes: str = field(default="300,300,128", metadata={"help": "DNN layer sizes, comma-separated."})
    dropout: float = field(default=0.0)
    id_model_kwargs: str = field(default="{}", metadata={"help": "Extra ID-model hyperparameters as JSON."})


CTR_DEFAULTS = dict(CTR_TRAINING_DEFAULTS, output_dir="runs/ctr", per_device_eval_batch_size=4096, logging_steps=100)


def main(argv=None):
    model_args, data_args, training_args = parse_script_args(
        (ModelArguments, DataArguments, TrainingArguments), CTR_DEFAULTS, argv
    )
    ds = load_data(data_args)
    tokenizer = fit_tokenizer(ds, data_args)
    config = FlipConfig.from_tokenizer(
        tokenizer,
        mode="id",
        id_model=model_args.id_model,
        id_embedding_dim=model_args.embedding_dim,
        id_mlp_hidden_sizes=[int(h) for h in model_args.mlp_hidden_sizes.split(",") if h],
        id_dropout=model_args.dropout,
        id_model_kwargs=json.loads(model_args.id_model_kwargs),
    )
    model = FlipForCTR(config)
    logger.info(
        "%s: %d train / %d test rows, %d fields, %d feature ids, %d parameters",
        data_args.dataset,
        len(ds["train"]),
        len(ds["test"]),
        tokenizer.num_fields,
        tokenizer.feature_vocab_size,
        model.num_parameters(),
    )
    results, trainer = train_and_evaluate_ctr(model, tokenizer, ds, training_args, text=False)
    results["dataset"] = data_args.dataset
    if training_args.should_save:
        path = write_results(training_args.output_dir, results)
        logger.info("test AUC %.4f  Logloss %.4f  -> %s", results["auc"], results["logloss"], path)
    return results


if __name__ == "__main__":
    main()
