"""The steps every training run shares: subsetting a split, the machine's Trainer defaults, CTR
training with evaluation on the held-out splits, and results files."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np

from ..metrics import compute_ctr_metrics, ctr_metrics, sigmoid
from ..tokenization.collator import DataCollatorForCTR
from ..tokenization.tokenization_flip import FlipTabularTokenizer
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


def train_encoded(
    model,
    encoded,
    training_args,
    data_collator,
    processing_class=None,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[FlipTrainer, dict[str, Any]]:
    """Train a CTR model (FLIP or a PLM baseline) on the ``train`` split of already encoded splits.

    Evaluation during training (``eval_strategy``) reads the ``validation`` split only; a run that
    asks for it without one raises ValueError. The test split is not read. Returns the trainer and the
    training facts (sizes, epochs run, the best checkpoint's epoch, time).
    """
    has_validation = "validation" in encoded
    if str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no" and not has_validation:
        raise ValueError("Evaluation during training needs a validation split: pass --validation_size (e.g. 0.1).")
    trainer = FlipTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["validation"] if has_validation else None,
        data_collator=data_collator,
        compute_metrics=compute_ctr_metrics,
        processing_class=processing_class,
        text_learning_rate=text_learning_rate,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    facts = {
        "train_samples": len(encoded["train"]),
        "validation_samples": len(encoded["validation"]) if has_validation else 0,
        "test_samples": len(encoded["test"]) if "test" in encoded else 0,
        "epochs": training_args.num_train_epochs,
        "epochs_run": round(float(trainer.state.epoch or 0.0), 3),
        "best_checkpoint_epoch": best_checkpoint_epoch(trainer.state),
        "learning_rate": training_args.learning_rate,
        "text_learning_rate": text_learning_rate,
        "batch_size": training_args.per_device_train_batch_size,
        "parameters": model.num_parameters(),
        "train_time_s": round(time.perf_counter() - start, 2),
        "train_samples_per_second": train_result.metrics.get("train_samples_per_second"),
    }
    return trainer, facts


def train_ctr(
    model,
    tokenizer: FlipTabularTokenizer,
    ds,
    training_args,
    text: bool,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[FlipTrainer, Any, dict[str, Any]]:
    """Encode ``ds`` with the FLIP tokenizer and train a `FlipForCTR` (`train_encoded`): returns the
    trainer, the encoded splits and the training facts."""
    model.check_tokenizer(tokenizer)
    with training_args.main_process_first(desc="encoding"):
        encoded = tokenizer.encode_dataset(ds, text=text)
    trainer, facts = train_encoded(
        model, encoded, training_args, DataCollatorForCTR(tokenizer, text=text), tokenizer,
        text_learning_rate if text else None, callbacks,
    )  # fmt: skip
    return trainer, encoded, {"id_model": model.config.id_model, **facts}


def best_checkpoint_epoch(state) -> float | None:
    """The epoch of the best checkpoint kept by ``load_best_model_at_end`` (None without one)."""
    if not state.best_model_checkpoint:
        return None
    step = int(str(state.best_model_checkpoint).rstrip("/").rsplit("-", 1)[-1])
    epochs = [h["epoch"] for h in state.log_history if h.get("step") == step and "epoch" in h]
    return round(float(epochs[0]), 3) if epochs else None


def predict_ctr(trainer: FlipTrainer, encoded, split: str) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The trainer's model on one encoded split: ``({"auc", "logloss", ...}, arrays)``.

    ``arrays`` holds ``probabilities`` and ``labels`` (row order of the split). A joint model (paper
    Eq. 15-17) adds its own halves: ``id_auc`` / ``plm_auc`` (the ID-side and text-side logits alone)
    and ``alpha`` (the fusion weight), with the halves' probabilities as ``id_probabilities`` and
    ``plm_probabilities``.
    """
    out = trainer.predict(encoded[split], metric_key_prefix=split)
    predictions = out.predictions
    parts = list(predictions) if isinstance(predictions, (tuple, list)) else [predictions]
    labels = np.asarray(out.label_ids).reshape(-1)
    metrics = {"auc": out.metrics[f"{split}_auc"], "logloss": out.metrics[f"{split}_logloss"]}
    arrays = {"probabilities": sigmoid(parts[0]).reshape(-1), "labels": labels}
    if len(parts) >= 4:  # FlipCTROutput of a joint model: logits, id_logits, plm_logits, alpha
        for name, logits in (("id", parts[1]), ("plm", parts[2])):
            arrays[f"{name}_probabilities"] = sigmoid(logits).reshape(-1)
            metrics[f"{name}_auc"] = ctr_metrics(labels, arrays[f"{name}_probabilities"])["auc"]
        metrics["alpha"] = float(np.mean(parts[3]))
    return metrics, arrays


def evaluate_ctr(trainer: FlipTrainer, encoded, split: str) -> dict[str, float]:
    """``{"auc", "logloss"}`` of the trainer's model on one encoded split (`predict_ctr`'s metrics)."""
    return predict_ctr(trainer, encoded, split)[0]


def final_metrics(trainer, encoded, facts: dict[str, Any]) -> dict[str, Any]:
    """The trained model read once on each split it has left: ``validation_auc`` /
    ``validation_logloss`` (when there is a validation split) and the test ``auc`` / ``logloss`` (a
    joint model adds its halves' AUCs and α, `predict_ctr`), with ``facts`` and the time it took."""
    start = time.perf_counter()
    results: dict[str, Any] = {}
    if "validation" in encoded:
        results.update({f"validation_{k}": v for k, v in evaluate_ctr(trainer, encoded, "validation").items()})
    results.update(evaluate_ctr(trainer, encoded, "test"))
    results.update(facts, eval_time_s=round(time.perf_counter() - start, 2))
    return results


def train_and_evaluate_ctr(
    model,
    tokenizer: FlipTabularTokenizer,
    ds,
    training_args,
    text: bool,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[dict[str, Any], FlipTrainer]:
    """`train_ctr`, then the test split read once at the end (`final_metrics`); saves model +
    tokenizer. Returns the figures and the trainer."""
    trainer, encoded, facts = train_ctr(model, tokenizer, ds, training_args, text, text_learning_rate, callbacks)
    results = final_metrics(trainer, encoded, facts)
    trainer.save_model(training_args.output_dir)
    return results, trainer


__all__ = [
    "CTR_TRAINING_DEFAULTS",
    "PRETRAIN_TRAINING_DEFAULTS",
    "device_description",
    "launcher_defaults",
    "evaluate_ctr",
    "final_metrics",
    "predict_ctr",
    "subsample",
    "train_and_evaluate_ctr",
    "best_checkpoint_epoch",
    "train_ctr",
    "train_encoded",
    "write_results",
]
