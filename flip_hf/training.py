"""What the example scripts share: data arguments, data preparation, the pretraining Trainer
(logs each FLIP loss separately) and results files."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import HfArgumentParser, Trainer, set_seed

from .collator import DataCollatorForCTR
from .data import load_ctr_dataset
from .metrics import compute_ctr_metrics
from .tokenization_flip import FlipTabularTokenizer


@dataclass
class DataArguments:
    """Which data set to load and how much of it to use."""

    dataset: str = field(
        default="movielens-100k", metadata={"help": "movielens-100k | movielens-1m | bookcrossing | csv | parquet"}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder (or zip) of the raw data; None: the embedded default."}
    )
    data_files: str | None = field(default=None, metadata={"help": "csv/parquet: the table file(s), comma-separated."})
    label_column: str = field(default="label", metadata={"help": "csv/parquet: the click column."})
    time_column: str | None = field(default=None, metadata={"help": "csv/parquet: the column to sort by."})
    label_threshold: float | None = field(default=None, metadata={"help": "csv/parquet: label = value > threshold."})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Random subset of the train split (kept in time order)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Random subset of the test split (kept in time order)."}
    )
    max_seq_length: int | None = field(default=None, metadata={"help": "Truncate text prompts to this many tokens."})
    min_count: int = field(default=1, metadata={"help": "Feature values seen fewer times map to the unknown id."})
    subsample_seed: int = field(default=0, metadata={"help": "Seed of the train/test subsets."})


CTR_TRAINING_DEFAULTS: dict[str, Any] = dict(  # SPEC section 5 finetuning: Adam, batch 256
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
"""TrainingArguments defaults of the CTR scripts (run_ctr.py, run_finetune.py)."""


def launcher_defaults() -> dict[str, Any]:
    """TrainingArguments defaults the machine implies: without CUDA, no pinned memory, and
    ``accelerate launch --multi_gpu`` / ``torchrun`` processes train as multi-CPU DDP (gloo)."""
    import torch

    if torch.cuda.is_available():
        return {}
    defaults: dict[str, Any] = {"dataloader_pin_memory": False}  # nothing to pin to on a CPU machine
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        defaults.update(use_cpu=True, ddp_backend="gloo")
    return defaults


def parse_script_args(dataclass_types: tuple, defaults: dict[str, Any], argv: list[str] | None = None):
    """Parse a script's dataclasses (TrainingArguments last) with its defaults, set up logging and the seed."""
    parser = HfArgumentParser(dataclass_types)
    parser.set_defaults(**defaults, **launcher_defaults())
    parsed = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO, stream=sys.stdout)
    set_seed(parsed[-1].seed)
    return parsed


def subsample(split, n: int | None, seed: int):
    """A random subset of ``n`` rows that keeps the original (time) order."""
    if n is None or n >= len(split):
        return split
    if n <= 0:
        raise ValueError(f"max samples must be positive, got {n}.")
    rng = np.random.default_rng(seed)
    return split.select(np.sort(rng.choice(len(split), size=n, replace=False)))


def load_data(args: DataArguments):
    """The DatasetDict of ``args``, subsampled."""
    kwargs: dict[str, Any] = {}
    if args.dataset.lower() in ("csv", "parquet"):
        if not args.data_files:
            raise ValueError(f"--dataset {args.dataset} needs --data_files.")
        kwargs = dict(
            data_files=args.data_files.split(","),
            label_column=args.label_column,
            time_column=args.time_column,
            label_threshold=args.label_threshold,
        )
    ds = load_ctr_dataset(args.dataset, data_dir=args.data_dir, **kwargs)
    ds["train"] = subsample(ds["train"], args.max_train_samples, args.subsample_seed)
    ds["test"] = subsample(ds["test"], args.max_eval_samples, args.subsample_seed + 1)
    return ds


def fit_tokenizer(ds, args: DataArguments, text_tokenizer: Any = None) -> FlipTabularTokenizer:
    return FlipTabularTokenizer.from_dataset(
        ds["train"], text_tokenizer=text_tokenizer, min_count=args.min_count, max_length=args.max_seq_length
    )


class FlipTrainer(Trainer):
    """`Trainer` whose saved model folders hold no pickle: the training arguments are written as
    ``training_args.json`` instead of ``training_args.bin``. (Intermediate ``checkpoint-*`` folders
    keep the Trainer's optimizer/scheduler/RNG state files, which resuming needs.)"""

    def __init__(self, *args: Any, text_learning_rate: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.text_learning_rate = text_learning_rate

    def create_optimizer(self, model=None):
        """The Trainer's optimizer; with ``text_learning_rate`` the text encoder gets its own lr."""
        optimizer = super().create_optimizer(model)
        text_model = getattr(self.model, "text_model", None)
        if self.text_learning_rate is None or text_model is None or getattr(self, "_text_lr_applied", False):
            return optimizer
        text_ids = {id(p) for p in text_model.parameters()}
        groups = []
        for group in optimizer.param_groups:
            for is_text in (False, True):
                params = [p for p in group["params"] if (id(p) in text_ids) == is_text]
                if params:
                    extra = {"lr": self.text_learning_rate} if is_text else {}
                    groups.append({**{k: v for k, v in group.items() if k != "params"}, **extra, "params": params})
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        self._text_lr_applied = True
        return optimizer

    def _save(self, output_dir: str | None = None, state_dict=None):
        super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        pickled = os.path.join(output_dir, "training_args.bin")
        if self.args.should_save and os.path.exists(pickled):
            os.remove(pickled)
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as fh:
                fh.write(self.args.to_json_string())


class FlipPretrainingTrainer(FlipTrainer):
    """`Trainer` that also logs ``mlm_loss``, ``mtm_loss`` and ``icl_loss`` (means since the last log)."""

    _PARTS = ("mlm_loss", "mtm_loss", "icl_loss")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._part_sums = {k: 0.0 for k in self._PARTS}
        self._part_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:  # kept on the device: no host sync per step
            for k in self._PARTS:
                self._part_sums[k] = self._part_sums[k] + getattr(outputs, k).detach().float()
            self._part_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._part_count and "loss" in logs:
            for k in self._PARTS:
                logs[k] = round(float(self._part_sums[k]) / self._part_count, 4)
                self._part_sums[k] = 0.0
            self._part_count = 0
        super().log(logs, *args, **kwargs)


def write_results(output_dir: str, results: dict[str, Any], name: str = "results.json") -> str:
    """Write ``results`` as JSON into ``output_dir``; returns the path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2, sort_keys=True, default=float)
    return path


def train_and_evaluate_ctr(
    model, tokenizer: FlipTabularTokenizer, ds, training_args, text: bool, text_learning_rate: float | None = None
) -> tuple[dict[str, Any], FlipTrainer]:
    """Encode ``ds``, train a `FlipForCTR` on its train split, test it, save model + tokenizer.

    Returns the test metrics (``auc``, ``logloss``) with sizes and timings, and the trainer.
    """
    model.config.check_tokenizer(tokenizer)
    with training_args.main_process_first(desc="encoding"):
        encoded = tokenizer.encode_dataset(ds, text=text)
    trainer = FlipTrainer(
        model=model,
        args=training_args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["test"],
        data_collator=DataCollatorForCTR(tokenizer, text=text),
        compute_metrics=compute_ctr_metrics,
        processing_class=tokenizer,
        text_learning_rate=text_learning_rate if text else None,
    )
    start = time.perf_counter()
    train_result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    metrics = trainer.evaluate(metric_key_prefix="test")
    results = {
        "auc": metrics["test_auc"],
        "logloss": metrics["test_logloss"],
        "id_model": model.config.id_model,
        "train_samples": len(ds["train"]),
        "test_samples": len(ds["test"]),
        "epochs": training_args.num_train_epochs,
        "learning_rate": training_args.learning_rate,
        "batch_size": training_args.per_device_train_batch_size,
        "train_time_s": round(train_time, 2),
        "eval_time_s": round(time.perf_counter() - start, 2),
        "train_samples_per_second": train_result.metrics.get("train_samples_per_second"),
    }
    trainer.save_model(training_args.output_dir)
    return results, trainer
