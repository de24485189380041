"""The training side: argument objects, the pipelines (pretrain, finetune, the plain ID model), the
CTR training loops on the HF Trainer, the Trainer subclasses and checkpoint handling."""

from .arguments import DataArguments, FlipConfigArguments, FlipTrainingArguments, ModelArguments, config_overrides
from .pipelines import build_ctr_model, fit_tokenizer, load_data, run_finetune, run_pretrain
from .results import CTRResult, PretrainResult, RunResult
from .trainer import FlipPretrainingTrainer, FlipTrainer

__all__ = [
    "CTRResult",
    "PretrainResult",
    "RunResult",
    "DataArguments",
    "FlipConfigArguments",
    "FlipPretrainingTrainer",
    "FlipTrainer",
    "FlipTrainingArguments",
    "ModelArguments",
    "build_ctr_model",
    "config_overrides",
    "fit_tokenizer",
    "load_data",
    "run_finetune",
    "run_pretrain",
]
