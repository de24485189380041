"""The command line of FLIP's runs: it parses flags into the argument objects of
`flip_hf.training.arguments` and calls the pipelines of `flip_hf.training.pipelines` (the scripts in
``examples/`` are its entry points).

Every `FlipConfig` hyperparameter is a flag whose default is the config's own (``--contrastive_tau
0.1``, ``--use_mlm False``, ``--id_model deepfm``, ...), so the config stays the one home of each
default; every `TrainingArguments` flag works too.
"""

from __future__ import annotations

from typing import Any

from .training.arguments import (
    DataArguments,
    FlipConfigArguments,
    FlipTrainingArguments,
    ModelArguments,
    config_overrides,
    parse_run_arguments,
)
from .training.loops import CTR_TRAINING_DEFAULTS, PRETRAIN_TRAINING_DEFAULTS
from .training.pipelines import run_finetune, run_pretrain
from .training.results import CTRResult, PretrainResult


def parse_args(defaults: dict[str, Any], argv: list[str] | None = None):
    """(model, config, data, training) arguments with ``defaults``; sets up logging and the seed, and
    checks the output folder (`check_output_dir`)."""
    return parse_run_arguments((ModelArguments, FlipConfigArguments, DataArguments, FlipTrainingArguments),
                               defaults, argv)  # fmt: skip


def pretrain_main(argv: list[str] | None = None) -> PretrainResult:
    """``examples/run_pretrain.py``."""
    defaults = dict(PRETRAIN_TRAINING_DEFAULTS, output_dir="runs/pretrain", text_learning_rate=None)
    model_args, config_args, data_args, training_args = parse_args(defaults, argv)
    return run_pretrain(model_args, config_overrides(config_args, model_args.preset), data_args, training_args)


def finetune_main(argv: list[str] | None = None) -> CTRResult:
    """``examples/run_finetune.py``."""
    model_args, config_args, data_args, training_args = parse_args(
        dict(CTR_TRAINING_DEFAULTS, output_dir="runs/finetune"), argv
    )
    return run_finetune(model_args, config_overrides(config_args), data_args, training_args)


def ctr_main(argv: list[str] | None = None) -> CTRResult:
    """``examples/run_ctr.py``: a plain ID model (``--mode id``, no pretraining folder)."""
    defaults = dict(CTR_TRAINING_DEFAULTS, output_dir="runs/ctr", per_device_eval_batch_size=4096, logging_steps=100)
    model_args, config_args, data_args, training_args = parse_args(defaults, argv)
    if model_args.pretrained_dir:
        raise ValueError("run_ctr trains a plain ID model from scratch; use run_finetune.py with --pretrained_dir.")
    return run_finetune(model_args, {**config_overrides(config_args), "mode": "id"}, data_args, training_args)


__all__ = ["ctr_main", "finetune_main", "parse_args", "pretrain_main"]
