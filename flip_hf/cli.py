"""Command-line runs of FLIP: plain ID-model CTR training, modality-alignment pretraining (paper
Section IV-C) and finetuning (Section IV-D), as functions the scripts in ``examples/``, the demo and
the benchmark runners call.

Every `FlipConfig` hyperparameter is a flag whose default is the config's own (``--contrastive_tau
0.1``, ``--use_mlm False``, ``--id_model deepfm``, ...), so the config stays the one home of each
default; every `TrainingArguments` flag works too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from transformers import HfArgumentParser, TrainingArguments, set_seed

from .checkpoints import WEIGHTS_FILE, checkpoint_folders
from .collator import DataCollatorForFlipPretraining
from .configuration_flip import PRETRAINING_PRESETS, FlipConfig
from .data import load_ctr_dataset
from .hub import add_auto_map, build_model_card, save_model_card
from .modeling_flip import FlipForCTR, FlipForPretraining, truncate_text_layers
from .runs import (
    CTR_TRAINING_DEFAULTS,
    PRETRAIN_TRAINING_DEFAULTS,
    launcher_defaults,
    subsample,
    train_and_evaluate_ctr,
    write_results,
)
from .tokenization_flip import FlipTabularTokenizer
from .trainer import FlipPretrainingTrainer

logger = logging.getLogger("flip_hf")

_DERIVED_CONFIG_FIELDS = ("field_names", "feature_vocab_size", "text_config")  # from the data and the PLM


@dataclass
class DataArguments:
    """Which data set to load and how much of it to use."""

    dataset: str = field(
        default="movielens-100k", metadata={"help": "movielens-100k | movielens-1m | bookcrossing | csv | parquet"}
    )
    data_dir: str | None = field(default=None, metadata={"help": "Folder (or zip) of the raw data; None: embedded."})
    data_files: str | None = field(default=None, metadata={"help": "csv/parquet: the table file(s), comma-separated."})
    label_column: str = field(default="label", metadata={"help": "csv/parquet: the click column."})
    time_column: str | None = field(default=None, metadata={"help": "csv/parquet: the column to sort by."})
    label_threshold: float | None = field(default=None, metadata={"help": "csv/parquet: label = value > threshold."})
    validation_size: float | None = field(
        default=None,
        metadata={
            "help": "Carve a validation split from the END of train (time order), e.g. 0.1; needed to evaluate "
            "during training (--eval_strategy epoch) or to stop early. The test split is untouched."
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Random subset of train (time order kept)."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Random subset of validation and test."})
    max_pretrain_samples: int | None = field(
        default=None,
        metadata={
            "help": "Pretraining only: a random subset of this many train rows (time order kept); the vocabulary "
            "is still fitted on the whole train split, so finetuning sees the same feature ids."
        },
    )
    max_seq_length: int | None = field(default=None, metadata={"help": "Truncate text prompts to this many tokens."})
    min_count: int = field(default=1, metadata={"help": "Feature values seen fewer times map to the unknown id."})
    unseen_text: str | None = field(
        default=None,
        metadata={"help": "Text of values the vocabulary never saw: 'value' (kept; the default) or 'unknown'."},
    )
    unseen_id: str | None = field(
        default=None,
        metadata={
            "help": "Feature id of values the vocabulary never saw: 'unknown' (the field's; the default) or "
            "'mask' (the <MASK> id the pretraining trained). Also applies to a --pretrained_dir tokenizer."
        },
    )
    subsample_seed: int = field(default=0, metadata={"help": "Seed of the train/validation/test subsets."})


@dataclass
class ModelArguments:
    """Where the model starts from."""

    plm: str | None = field(default=None, metadata={"help": "Local HF text encoder (default: packaged MiniLM)."})
    num_text_layers: int | None = field(default=None, metadata={"help": "Keep the first N text layers (CPU runs)."})
    preset: str = field(
        default="flip", metadata={"help": f"Pretraining variant: {', '.join(PRETRAINING_PRESETS)} (config flags win)."}
    )
    pretrained_dir: str | None = field(default=None, metadata={"help": "Finetuning: a run_pretrain.py output."})
    text_learning_rate: float | None = field(
        default=5e-5,
        metadata={
            "help": "The text encoder's learning rate (finetuning default 5e-5; pretraining default: none, "
            "the text encoder trains at --learning_rate like the rest)."
        },
    )
    early_stopping_patience: int | None = field(
        default=None,
        metadata={
            "help": "Stop after N evaluations without a better validation AUC (needs --validation_size, "
            "--eval_strategy epoch and --load_best_model_at_end; the best model is kept)."
        },
    )


@dataclass
class FlipTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus ``overwrite_output_dir`` (which transformers 5 dropped): a script refuses
    an ``output_dir`` that holds a finished or an interrupted run unless it is given (or the run resumes)."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "Replace the run in --output_dir (its results files and checkpoint-N folders are removed); "
            "without it a script refuses a folder holding a finished run or checkpoints. "
            "To continue an interrupted run instead: --resume_from_checkpoint last."
        },
    )


FINISHED_RUN_FILES = ("results.json", "pretrain_results.json", WEIGHTS_FILE)
"""Files whose presence in ``output_dir`` marks a finished run."""


def check_output_dir(training_args: TrainingArguments) -> None:
    """Refuse (FileExistsError) an ``output_dir`` that holds a finished run (`FINISHED_RUN_FILES`) or
    an interrupted run's ``checkpoint-N`` folders, unless the run resumes (``resume_from_checkpoint``)
    or ``overwrite_output_dir`` is set; then the old results files and checkpoints are removed, so
    that ``--resume_from_checkpoint last`` can never pick up the replaced run's."""
    out = training_args.output_dir
    if training_args.resume_from_checkpoint or not out or not os.path.isdir(out):
        return
    finished = [name for name in FINISHED_RUN_FILES if os.path.isfile(os.path.join(out, name))]
    checkpoints = checkpoint_folders(out)
    if not finished and not checkpoints:
        return
    if getattr(training_args, "overwrite_output_dir", False):
        if training_args.should_save:
            for name in ("results.json", "pretrain_results.json"):
                if name in finished:
                    os.remove(os.path.join(out, name))
            for folder in checkpoints:
                shutil.rmtree(folder)
            logger.info("--overwrite_output_dir: replacing the run in %s", out)
        return
    what = (
        f"a finished run ({', '.join(finished)})"
        if finished
        else f"an interrupted run's checkpoints ({', '.join(os.path.basename(c) for c in checkpoints)})"
    )
    raise FileExistsError(
        f"--output_dir {out} already holds {what}. Pass --overwrite_output_dir True to replace it, "
        "--resume_from_checkpoint last to continue it, or choose another folder."
    )


def _flag_type(hint: Any) -> Any:
    """The optional CLI type of a `FlipConfig` field (dicts are read as JSON strings)."""
    if get_origin(hint) in (Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    if hint is dict or get_origin(hint) is dict:
        return str | None
    if get_origin(hint) is list:
        return list[int] | None
    return hint | None


def _config_arguments() -> type:
    """A dataclass with one optional flag per `FlipConfig` hyperparameter, default = the config's."""
    namespace = vars(sys.modules[FlipConfig.__module__])
    fields = []
    for name, annotation in FlipConfig.__annotations__.items():
        if name in _DERIVED_CONFIG_FIELDS or name.startswith("_"):
            continue
        hint = eval(annotation, namespace) if isinstance(annotation, str) else annotation  # noqa: S307
        default = getattr(FlipConfig, name, None)
        help_text = f"FlipConfig.{name} (default: {list(default) if isinstance(default, tuple) else default})"
        fields.append((name, _flag_type(hint), field(default=None, metadata={"help": help_text})))
    return dataclasses.make_dataclass("FlipConfigArguments", fields)


FlipConfigArguments = _config_arguments()


def config_overrides(args: Any, preset: str = "flip") -> dict[str, Any]:
    """The preset's overrides, then every config flag that was given."""
    if preset not in PRETRAINING_PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; presets: {', '.join(PRETRAINING_PRESETS)}.")
    out = dict(PRETRAINING_PRESETS[preset])
    for key, value in dataclasses.asdict(args).items():
        if value is not None:
            out[key] = json.loads(value) if key == "id_model_kwargs" else value
    return out


def parse_args(defaults: dict[str, Any], argv: list[str] | None = None):
    """(model, config, data, training) arguments with ``defaults``; sets up logging and the seed, and
    checks the output folder (`check_output_dir`)."""
    parser = HfArgumentParser((ModelArguments, FlipConfigArguments, DataArguments, FlipTrainingArguments))
    parser.set_defaults(**defaults, **launcher_defaults())
    parsed = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO, stream=sys.stdout)
    check_output_dir(parsed[-1])
    set_seed(parsed[-1].seed)
    return parsed


def load_data(args: DataArguments):
    """The DatasetDict of ``args`` (with a validation split when asked), subsampled."""
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
    if args.validation_size is not None:
        kwargs["validation_size"] = args.validation_size
    ds = load_ctr_dataset(args.dataset, data_dir=args.data_dir, **kwargs)
    ds["train"] = subsample(ds["train"], args.max_train_samples, args.subsample_seed)
    for offset, split in enumerate(("test", "validation"), start=1):
        if split in ds:
            ds[split] = subsample(ds[split], args.max_eval_samples, args.subsample_seed + offset)
    return ds


def fit_tokenizer(ds, args: DataArguments, text_tokenizer: Any = None) -> FlipTabularTokenizer:
    """The tokenizer fitted on the train split only."""
    kwargs = {k: getattr(args, k) for k in ("unseen_text", "unseen_id") if getattr(args, k)}
    return FlipTabularTokenizer.from_dataset(
        ds["train"], text_tokenizer=text_tokenizer, min_count=args.min_count, max_length=args.max_seq_length, **kwargs
    )


def run_pretrain(model_args: ModelArguments, config_args, data_args: DataArguments, training_args) -> dict[str, Any]:
    """FLIP modality-alignment pretraining; saves model + tokenizer, returns a summary (also written
    to ``pretrain_results.json``)."""
    ds = load_data(data_args)
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=model_args.plm)
    rows = subsample(ds["train"], data_args.max_pretrain_samples, data_args.subsample_seed)
    with training_args.main_process_first(desc="encoding"):
        train = tokenizer.encode_dataset(rows, text=True)
    overrides = config_overrides(config_args, model_args.preset)
    set_seed(training_args.seed)  # the initialisation follows the run's seed, whatever ran before in the process
    model = FlipForPretraining.from_text_pretrained(model_args.plm, tokenizer=tokenizer, **overrides)
    if model_args.num_text_layers:
        truncate_text_layers(model, model_args.num_text_layers)
    logger.info(
        "%s: %d pretraining rows, %d fields, %d feature ids; %d parameters; world size %d",
        data_args.dataset, len(train), tokenizer.num_fields, tokenizer.feature_vocab_size,
        model.num_parameters(), training_args.world_size,
    )  # fmt: skip
    trainer = FlipPretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        data_collator=DataCollatorForFlipPretraining.from_config(tokenizer, model.config),
        processing_class=tokenizer,
        text_learning_rate=model_args.text_learning_rate,
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    elapsed = time.perf_counter() - start
    trainer.save_model(training_args.output_dir)
    logged = [h for h in trainer.state.log_history if "mlm_loss" in h]
    summary = {
        "dataset": data_args.dataset,
        "preset": model_args.preset,
        "config_overrides": overrides,
        "train_samples": len(train),
        "id_model": model.config.id_model,
        "plm": model.config.text_config.name_or_path or str(model_args.plm),
        "num_text_layers": model.config.text_config.num_hidden_layers,
        "epochs": training_args.num_train_epochs,
        "learning_rate": training_args.learning_rate,
        "text_learning_rate": model_args.text_learning_rate,
        "global_step": trainer.state.global_step,
        "train_time_s": round(elapsed, 2),
        "train_samples_per_second": result.metrics.get("train_samples_per_second"),
        "final_losses": {
            k: logged[-1][k] for k in ("loss", "mlm_loss", "mtm_loss", "icl_loss") if logged and k in logged[-1]
        },
        "loss_curve": logged,
        "world_size": training_args.world_size,
    }
    if training_args.should_save:
        write_results(training_args.output_dir, summary, "pretrain_results.json")
    logger.info("pretraining done in %.1f s -> %s", elapsed, training_args.output_dir)
    return summary


def build_ctr_model(model_args: ModelArguments, overrides: dict[str, Any], ds, data_args: DataArguments):
    """(model, tokenizer): from a pretraining folder, or from the plain encoders (mode "id" without a
    pretraining folder is the paper's plain ID model, "N/A" in its tables)."""
    if model_args.pretrained_dir:
        tokenizer = FlipTabularTokenizer.from_pretrained(model_args.pretrained_dir, unseen_id=data_args.unseen_id)
        missing = [f for f in tokenizer.field_names if f not in ds["train"].column_names]
        if missing:
            raise ValueError(f"The pretrained tokenizer expects fields {missing} that the data set lacks.")
        model = FlipForCTR.from_pretrained(model_args.pretrained_dir, **overrides)
        model.check_tokenizer(tokenizer)
        return model, tokenizer
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=model_args.plm)
    if overrides.get("mode", FlipConfig.mode) == "id":
        return FlipForCTR(FlipConfig.from_tokenizer(tokenizer, **overrides)), tokenizer
    model = FlipForCTR.from_text_pretrained(model_args.plm, tokenizer=tokenizer, **overrides)
    if model_args.num_text_layers:
        truncate_text_layers(model, model_args.num_text_layers)
    return model, tokenizer


def run_finetune(model_args: ModelArguments, config_args, data_args: DataArguments, training_args) -> dict[str, Any]:
    """Finetune FLIP (``--mode joint``), FLIP_ID (``id``) or FLIP_PLM (``plm``) for CTR; test once at
    the end; save model, tokenizer, ``results.json`` and a filled-in model card."""
    from transformers import EarlyStoppingCallback

    ds = load_data(data_args)
    overrides = config_overrides(config_args)
    model, tokenizer = build_ctr_model(model_args, overrides, ds, data_args)
    mode = model.config.mode
    logger.info(
        "%s mode=%s: %d train / %d validation / %d test rows, %d parameters", data_args.dataset, mode,
        len(ds["train"]), len(ds["validation"]) if "validation" in ds else 0, len(ds["test"]), model.num_parameters(),
    )  # fmt: skip
    callbacks = []
    if model_args.early_stopping_patience is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=model_args.early_stopping_patience))
    text = mode != "id"
    results, trainer = train_and_evaluate_ctr(
        model, tokenizer, ds, training_args, text=text, text_learning_rate=model_args.text_learning_rate,
        callbacks=callbacks,
    )  # fmt: skip
    results.update(
        mode=mode,
        dataset=data_args.dataset,
        pretrained_dir=model_args.pretrained_dir,
        text_learning_rate=model_args.text_learning_rate if text else None,
        config_overrides=overrides,
    )
    if mode == "joint":
        results["alpha"] = float(model.alpha.detach())
    if training_args.should_save:
        write_results(training_args.output_dir, results)
        hyper = {
            k: results[k] for k in ("epochs", "learning_rate", "text_learning_rate", "batch_size", "train_samples")
        }
        hyper.update({k: getattr(model.config, k) for k in ("text_pooling", "contrastive_norm", "contrastive_tau")})
        card = build_model_card(
            model.config, results, data_args.dataset, hyper, pretrained_from=model_args.pretrained_dir
        )
        save_model_card(training_args.output_dir, card)
        add_auto_map(training_args.output_dir)
        if training_args.push_to_hub:
            trainer.push_to_hub(commit_message=f"{mode} finetuned, test AUC {results['auc']:.4f}")
    logger.info("test AUC %.4f  Logloss %.4f  (%s)", results["auc"], results["logloss"], mode)
    return results


def pretrain_main(argv: list[str] | None = None) -> dict[str, Any]:
    """``examples/run_pretrain.py``."""
    defaults = dict(PRETRAIN_TRAINING_DEFAULTS, output_dir="runs/pretrain", text_learning_rate=None)
    return run_pretrain(*parse_args(defaults, argv))


def finetune_main(argv: list[str] | None = None) -> dict[str, Any]:
    """``examples/run_finetune.py``."""
    return run_finetune(*parse_args(dict(CTR_TRAINING_DEFAULTS, output_dir="runs/finetune"), argv))


def ctr_main(argv: list[str] | None = None) -> dict[str, Any]:
    """``examples/run_ctr.py``: a plain ID model (``--mode id``, no pretraining folder)."""
    defaults = dict(CTR_TRAINING_DEFAULTS, output_dir="runs/ctr", per_device_eval_batch_size=4096, logging_steps=100)
    model_args, config_args, data_args, training_args = parse_args(defaults, argv)
    if model_args.pretrained_dir:
        raise ValueError("run_ctr trains a plain ID model from scratch; use run_finetune.py with --pretrained_dir.")
    config_args.mode = "id"
    return run_finetune(model_args, config_args, data_args, training_args)


__all__ = [
    "DataArguments",
    "FINISHED_RUN_FILES",
    "FlipConfigArguments",
    "FlipTrainingArguments",
    "ModelArguments",
    "build_ctr_model",
    "check_output_dir",
    "config_overrides",
    "ctr_main",
    "finetune_main",
    "fit_tokenizer",
    "load_data",
    "parse_args",
    "pretrain_main",
    "run_finetune",
    "run_pretrain",
]
