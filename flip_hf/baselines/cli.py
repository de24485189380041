"""Command-line run of a PLM baseline of paper Table II (Section V-A3): ``examples/run_baseline.py``
calls `baseline_main`, which parses the flags and calls `flip_hf.baselines.training.run_baseline`."""

from __future__ import annotations

from ..training.arguments import DataArguments, FlipTrainingArguments, parse_run_arguments
from ..training.loops import CTR_TRAINING_DEFAULTS
from ..training.results import CTRResult
from .training import BaselineArguments, run_baseline


def baseline_main(argv: list[str] | None = None) -> CTRResult:
    """``examples/run_baseline.py``: every `DataArguments` and `TrainingArguments` flag works, with the CTR
    training defaults of `flip_hf.training.loops`; an ``output_dir`` holding a finished run is refused unless
    ``--overwrite_output_dir True`` (`flip_hf.training.arguments.check_output_dir`)."""
    args, data_args, training_args = parse_run_arguments(
        (BaselineArguments, DataArguments, FlipTrainingArguments),
        {**CTR_TRAINING_DEFAULTS, "output_dir": "runs/baseline"},
        argv,
    )
    return run_baseline(args, data_args, training_args)


__all__ = ["baseline_main"]
