"""Training a PLM baseline (paper Table II, Section V-A3) with a `FlipTrainer`: `train_baseline` (the
encoded splits, the processor's collator, AUC/Logloss on the validation split during training; the test
split is not read) and the whole run, `run_baseline` (data, tokenizer, model, training, the test read
once, the saved folder), with its `BaselineArguments`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from transformers import EarlyStoppingCallback, TrainingArguments

from ..data import field_sides
from ..training.arguments import DataArguments, ModelArguments
from ..training.loops import final_metrics, train_encoded, write_results
from ..training.pipelines import fit_tokenizer, load_data
from ..training.results import CTRResult
from ..training.trainer import FlipTrainer
from .build import build_baseline, get_baseline
from .encoders import check_checkpoint_kind, load_text_tokenizer
from .modeling_base import BaselinePreTrainedModel
from .processing import BaselineProcessor


def train_baseline(
    model: BaselinePreTrainedModel,
    processor: BaselineProcessor,
    ds: Any,
    training_args: Any,
    text_learning_rate: float | None = None,
    callbacks: list | None = None,
) -> tuple[FlipTrainer, Any, dict[str, Any]]:
    """Encode ``ds`` (a `DatasetDict`) with the processor and train ``model`` on its ``train`` split
    (`flip_hf.training.loops.train_encoded`: validation only during training). The text model trains at
    ``text_learning_rate`` (P5: the whole model), new layers at ``training_args.learning_rate``.
    Returns the trainer, the encoded splits and the training facts."""
    with training_args.main_process_first(desc="encoding"):
        encoded = processor.encode_dataset(ds)
    collator = processor.data_collator(seed=training_args.seed)
    trainer, facts = train_encoded(model, encoded, training_args, collator, processor, text_learning_rate, callbacks)
    return trainer, encoded, facts


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


def run_baseline(args: BaselineArguments, data_args: DataArguments, training_args: TrainingArguments) -> CTRResult:
    """Train and test one baseline (`train_baseline`, then `final_metrics`); save model, processor,
    tokenizer and ``results.json``."""
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
    results = final_metrics(trainer, encoded, facts)
    results.update(
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
    return CTRResult(training_args.output_dir, results)


__all__ = ["BaselineArguments", "run_baseline", "train_baseline"]
