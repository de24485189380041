"""The arguments of FLIP's runs, as dataclasses `HfArgumentParser` turns into flags and the
pipelines (`flip_hf.training.pipelines`) take: the data, the model's starting point, every
`FlipConfig` hyperparameter (one optional flag each, default = the config's own), and the Trainer's
arguments plus ``overwrite_output_dir``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Union, get_args, get_origin

from transformers import TrainingArguments

from ..models.configuration_flip import PRETRAINING_PRESETS, FlipConfig
from ..models.model_files import WEIGHTS_FILE
from .checkpoints import checkpoint_folders

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
    an ``output_dir`` that holds a finished or an interrupted run unless it is given (or the run resumes);
    and ``global_train_batch_size``, the batch of one optimizer step over every process and accumulation
    step (`apply_global_batch`)."""

    global_train_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Rows per optimizer step over all processes and accumulation steps (the paper's pretraining "
            "batch 1024 is this): sets --per_device_train_batch_size to it / (world size x "
            "--gradient_accumulation_steps), which must divide it. Contrastive negatives span the processes "
            "of one micro-step (per-device batch x world size), not the accumulation steps."
        },
    )

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


def apply_global_batch(training_args: TrainingArguments) -> None:
    """Set ``per_device_train_batch_size`` from ``global_train_batch_size`` (when given) for this
    launch's world size and accumulation steps; a ValueError when they do not divide it."""
    total = getattr(training_args, "global_train_batch_size", None)
    if total is None:
        return
    split = training_args.world_size * training_args.gradient_accumulation_steps
    if total < 1 or total % split:
        raise ValueError(
            f"--global_train_batch_size {total} is not a positive multiple of world size {training_args.world_size} "
            f"x --gradient_accumulation_steps {training_args.gradient_accumulation_steps} = {split}."
        )
    training_args.per_device_train_batch_size = total // split


def check_sharding(training_args: TrainingArguments) -> None:
    """FSDP or DeepSpeed asked for (``--fsdp``, ``--deepspeed`` or ``accelerate launch --use_fsdp`` /
    ``--use_deepspeed``) on a machine without CUDA is a ValueError: there the Trainer does not shard and
    would train with plain DDP instead, unannounced."""
    import torch
    from transformers.utils import strtobool

    asked = [
        name
        for name, on in (
            ("--fsdp", bool(getattr(training_args, "fsdp", None))),
            ("--deepspeed", bool(getattr(training_args, "deepspeed", None))),
            ("accelerate --use_fsdp", strtobool(os.environ.get("ACCELERATE_USE_FSDP", "false"))),
            ("accelerate --use_deepspeed", strtobool(os.environ.get("ACCELERATE_USE_DEEPSPEED", "false"))),
        )
        if on
    ]
    if asked and not torch.cuda.is_available():
        raise ValueError(
            f"{asked[0]} shards the model over GPUs; this machine has none, and on the CPU the Trainer would train "
            "with plain DDP instead. Drop the sharding options (data parallelism works on the CPU)."
        )


def batch_layout(training_args: TrainingArguments) -> str:
    """How one optimizer step's rows are laid out, for the log."""
    per, world, accum = (training_args.per_device_train_batch_size, training_args.world_size,
                         training_args.gradient_accumulation_steps)  # fmt: skip
    return (
        f"global batch {per * world * accum} = {per} per process x {world} process(es) x {accum} accumulation "
        f"step(s); contrastive negatives span {per * world} rows"
    )


def parse_run_arguments(types: tuple[type, ...], defaults: dict[str, Any], argv: list[str] | None = None) -> tuple:
    """The argument dataclasses ``types`` (the last one a `TrainingArguments`) parsed from ``argv`` with
    ``defaults`` and the machine's launcher defaults; then the run's set-up, one home for every entry
    point: logging, the global batch (`apply_global_batch`), the output-folder check (`check_output_dir`)
    and the seed."""
    from transformers import HfArgumentParser, set_seed

    from .logs import setup_logging
    from .loops import launcher_defaults

    parser = HfArgumentParser(types)
    parser.set_defaults(**defaults, **launcher_defaults())
    parsed = parser.parse_args_into_dataclasses(args=argv)
    setup_logging()
    check_sharding(parsed[-1])
    apply_global_batch(parsed[-1])
    check_output_dir(parsed[-1])
    set_seed(parsed[-1].seed)
    return tuple(parsed)


__all__ = [
    "DataArguments",
    "FINISHED_RUN_FILES",
    "FlipConfigArguments",
    "FlipTrainingArguments",
    "ModelArguments",
    "apply_global_batch",
    "batch_layout",
    "check_output_dir",
    "check_sharding",
    "config_overrides",
    "parse_run_arguments",
]
