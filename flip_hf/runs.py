"""The steps every training run shares: subsetting a split, the machine's Trainer defaults, CTR
training with evaluation on the held-out splits, and results files."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from .collator import DataCollatorForCTR
from .metrics import compute_ctr_metrics
from .tokenization_flip import FlipTabularTokenizer
from .trainer import FlipTrainer

CTR_TRAINING_DEFAULTS: dict[str, Any] = dict(  # paper Section V-A4 finetuning: Adam, batch 256
    per_device_train_batch_size=256,
    per_device_eval_batch_size=1024,
    learning_rate=1e-3,
    num_train_epochs=1,
    weight_decay=0.0,
    optim="adamw_torch",  # = Adam with weight_decay 0
    lr_scheduler_type="constant",
    logging_steps=50,
    save_strategy="no",
    eval_strategy="no",
    report_to="none",
    remove_unused_columns=False,
    label_names=["labels"],
)
"""`TrainingArguments` defaults of CTR training (plain ID models and finetuning)."""

PRETRAIN_TRAINING_DEFAULTS: dict[str, Any] = dict(  # paper Section V-A4: AdamW, batch 1024, lr 5e-5, cosine
    per_device_train_batch_size=1024,
    learning_rate=5e-5,
    lr_scheduler_type="cosine",
    num_train_epochs=30,
    weight_decay=0.0,
    logging_steps=20,
    save_strategy="epoch",
    save_total_limit=2,
    report_to="none",
    remove_unused_columns=False,
)
"""`TrainingArguments` defaults of FLIP pretraining."""


def launcher_defaults() -> dict[str, Any]:
    """`TrainingArguments` defaults the machine implies: without CUDA, no pinned memory, and
    ``accelerate launch --multi_gpu`` / ``torchrun`` processes train as multi-CPU DDP (gloo)."""
    import torch

    if torch.cuda.is_available():
        return {}
    defaults: dict[str, Any] = {"dataloader_pin_memory": False}  # nothing to pin to on a CPU machine
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        defaults.update(use_cpu=True, ddp_backend="gloo")
    return defaults


def device_description() -> str:
    """The accelerator (or CPU thread count) and torch version, for results files."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return f"CPU, {torch.get_num_threads()} threads (torch {torch.__version__})"


def subsample(split, n: int | None, seed: int):
    """A random subset of ``n`` rows that keeps the original (time) order."""
    if n is None or n >= len(split):
        return split
    if n <= 0:
        raise ValueError(f"max samples must be positive, got {n}.")
    rng = np.random.default_rng(seed)
    return split.select(np.sort(rng.choice(len(split), size=n, replace=False)))


def write_results(output_dir: str, results: dict[str, Any], name: str = "results.json") -> str:
    """Write ``results`` as JSON into ``output_dir``; returns the path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, sort_keys=True, default=float)
    return path


def train_and_evaluate_ctr(
    model,
    tokenizer: FlipTabularTokenizer,
    ds,
    training_args,
    text: bool,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[dict[str, Any], FlipTrainer]:
    """Encode ``ds``, train a `FlipForCTR` on its ``train`` split, test it once, save model + tokenizer.

    Evaluation during training (``eval_strategy``) reads the ``validation`` split only; a run that
    asks for it without one raises ValueError. The ``test`` split is read once, at the end.
    Returns the test metrics (``auc``, ``logloss``; plus ``validation_auc`` / ``validation_logloss``
    of the final model when there is a validation split) with sizes and timings, and the trainer.
    """
    model.config.check_tokenizer(tokenizer)
    has_validation = "validation" in ds
    if str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no" and not has_validation:
        raise ValueError("Evaluation during training needs a validation split: pass --validation_size (e.g. 0.1).")
    with training_args.main_process_first(desc="encoding"):
        encoded = tokenizer.encode_dataset(ds, text=text)
    trainer = FlipTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"] if has_validation else None,
        data_collator=DataCollatorForCTR(tokenizer, text=text),
        compute_metrics=compute_ctr_metrics,
        processing_class=tokenizer,
        text_learning_rate=text_learning_rate if text else None,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    results: dict[str, Any] = {}
    if has_validation:
        val = trainer.evaluate(encoded["validation"], metric_key_prefix="validation")
        results.update(validation_auc=val["validation_auc"], validation_logloss=val["validation_logloss"])
    metrics = trainer.evaluate(encoded["test"], metric_key_prefix="test")
    results.update(
        auc=metrics["test_auc"],
        logloss=metrics["test_logloss"],
        id_model=model.config.id_model,
        train_samples=len(ds["train"]),
        validation_samples=len(ds["validation"]) if has_validation else 0,
        test_samples=len(ds["test"]),
        epochs=training_args.num_train_epochs,
        epochs_run=round(float(trainer.state.epoch or 0.0), 3),
        learning_rate=training_args.learning_rate,
        batch_size=training_args.per_device_train_batch_size,
        train_time_s=round(train_time, 2),
        eval_time_s=round(time.perf_counter() - start, 2),
        train_samples_per_second=train_result.metrics.get("train_samples_per_second"),
    )
    trainer.save_model(training_args.output_dir)
    return results, trainer


__all__ = [
    "CTR_TRAINING_DEFAULTS",
    "PRETRAIN_TRAINING_DEFAULTS",
    "device_description",
    "launcher_defaults",
    "subsample",
    "train_and_evaluate_ctr",
    "write_results",
]
