"""Command-line run of a PLM baseline of paper Table II (Section V-A3): CTR-BERT or P5, trained for CTR
on a data set's train split, evaluated on validation during training and on test once at the end
(``examples/run_baseline.py`` calls `baseline_main`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from transformers import EarlyStoppingCallback, TrainingArguments

from ..data import field_sides
from ..training.arguments import DataArguments, FlipTrainingArguments, ModelArguments, parse_run_arguments
from ..training.loops import CTR_TRAINING_DEFAULTS, evaluate_ctr, write_results
from ..training.pipelines import fit_tokenizer, load_data
from .build import build_baseline, get_baseline
from .encoders import check_checkpoint_kind, load_text_tokenizer
from .training import train_baseline

logger = logging.getLogger("flip_hf")


@dataclass
class BaselineArguments:
    """Which baseline, its text model, its user/item split and its own options."""

    baseline: str = field(default="ctr_bert", metadata={"help": "ctr_bert (CTR-BERT) | p5 (P5)."})
    plm: str | None = field(
        default=None,
        metadata={
            "help": "Local checkpoint: an encoder for ctr_bert (default: the packaged MiniLM), an encoder-decoder "
            "(T5 family) for p5 (required)."
        },
    )
    num_text_layers: int | None = field(
        default=None,
        metadata={"help": "Keep the first N layers of each CTR-BERT tower, or of P5's encoder and decoder."},
    )
    user_fields: str | None = field(
        default=None, metadata={"help": "The user's fields, comma-separated; default: the data set's own split."}
    )
    item_fields: str | None = field(default=None, metadata={"help": "The item's fields; default: the other fields."})
    text_learning_rate: float | None = field(
        default=ModelArguments.text_learning_rate,
        metadata={"help": "Learning rate of the text model (all of P5); the fusion MLP uses --learning_rate."},
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={"help": "Stop after N evaluations without a better validation AUC (as in run_finetune.py)."},
    )
    share_towers: bool | None = field(default=None, metadata={"help": "CTR-BERT: one encoder for both texts."})
    fusion_hidden_sizes: list[int] | None = field(default=None, metadata={"help": "CTR-BERT: fusion MLP sizes."})
    text_pooling: str | None = field(default=None, metadata={"help": "CTR-BERT: a tower's vector, cls or mean."})
    eval_template: int | None = field(default=None, metadata={"help": "P5: the evaluation template (default 0)."})


_CONFIG_FLAGS = {"ctr_bert": ("share_towers", "fusion_hidden_sizes", "text_pooling"), "p5": ("eval_template",)}


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [f.strip() for f in text.split(",") if f.strip()]


def run_baseline(args: BaselineArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Train and test one baseline; save model, processor, tokenizer and ``results.json``."""
    baseline = get_baseline(args.baseline)
    kind = baseline.kind
    plm = check_checkpoint_kind(args.plm, baseline.plm_kind, baseline.name)
    overrides = {}
    for name in sorted({n for names in _CONFIG_FLAGS.values() for n in names}):
        value = getattr(args, name)
        if value is not None:
            if name not in _CONFIG_FLAGS[kind]:
                raise ValueError(f"--{name} is not an option of {baseline.name}.")
            overrides[name] = value
    user_fields = _split(args.user_fields)
    item_fields = _split(args.item_fields)
    if user_fields is None:
        user_fields, default_items = field_sides(data_args.dataset)
        item_fields = item_fields or default_items
    ds = load_data(data_args)
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=load_text_tokenizer(plm))
    model, processor = build_baseline(
        kind, tokenizer, plm, user_fields, item_fields, num_text_layers=args.num_text_layers, **overrides
    )
    logger.info(
        "%s on %s: %d train / %d validation / %d test rows; user fields %s, item fields %s; %d parameters",
        baseline.name, data_args.dataset, len(ds["train"]), len(ds["validation"]) if "validation" in ds else 0,
        len(ds["test"]), processor.user_fields, processor.item_fields, model.num_parameters(),
    )  # fmt: skip
    callbacks = []
    if args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))
    trainer, encoded, facts = train_baseline(
        model, processor, ds, training_args, text_learning_rate=args.text_learning_rate, callbacks=callbacks
    )
    start = time.perf_counter()
    results: dict[str, Any] = {}
    if "validation" in encoded:
        results.update({f"validation_{k}": v for k, v in evaluate_ctr(trainer, encoded, "validation").items()})
    results.update(evaluate_ctr(trainer, encoded, "test"))
    results.update(
        facts,
        eval_time_s=round(time.perf_counter() - start, 2),
        baseline=kind,
        model=baseline.name,
        dataset=data_args.dataset,
        plm=plm,
        num_text_layers=args.num_text_layers,
        user_fields=processor.user_fields,
        item_fields=processor.item_fields,
        config_overrides=overrides,
    )
    trainer.save_model(training_args.output_dir)
    if training_args.should_save:
        write_results(training_args.output_dir, results)
    logger.info("%s test AUC %.4f  Logloss %.4f", baseline.name, results["auc"], results["logloss"])
    return results


def baseline_main(argv: list[str] | None = None) -> dict[str, Any]:
    """``examples/run_baseline.py``: every `DataArguments` and `TrainingArguments` flag works, with the CTR
    training defaults of `flip_hf.training.loops`; an ``output_dir`` holding a finished run is refused unless
    ``--overwrite_output_dir True`` (`flip_hf.training.arguments.check_output_dir`)."""
    args, data_args, training_args = parse_run_arguments(
        (BaselineArguments, DataArguments, FlipTrainingArguments),
        {**CTR_TRAINING_DEFAULTS, "output_dir": "runs/baseline"},
        argv,
    )
    return run_baseline(args, data_args, training_args)


__all__ = ["BaselineArguments", "baseline_main", "run_baseline"]
