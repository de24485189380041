"""FLIP's runs as library functions, each taking argument objects (`flip_hf.training.arguments`) and
returning a result object (`flip_hf.training.results`): loading the data, fitting the tokenizer,
pretraining (paper Section IV-C), building and finetuning a CTR model (Section IV-D). The command line
(`flip_hf.cli`), the demo and the tables runner call these."""

from __future__ import annotations

import logging
import time
from typing import Any

from transformers import TrainingArguments, set_seed

from ..data import load_ctr_dataset
from ..models.configuration_flip import FlipConfig
from ..models.modeling_flip import FlipForCTR, FlipForPretraining, truncate_text_layers
from ..tokenization.collator import DataCollatorForFlipPretraining
from ..tokenization.tokenization_flip import FlipTabularTokenizer
from .arguments import DataArguments, ModelArguments, batch_layout
from .hub import add_auto_map, build_model_card, save_model_card
from .loops import subsample, train_and_evaluate_ctr, write_results
from .results import CTRResult, PretrainResult
from .trainer import FlipPretrainingTrainer

logger = logging.getLogger("flip_hf")


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


def run_pretrain(model_args: ModelArguments, overrides: dict[str, Any], data_args: DataArguments,
                 training_args: TrainingArguments) -> PretrainResult:  # fmt: skip
    """FLIP modality-alignment pretraining (paper Section IV-C) with `FlipConfig` ``overrides`` (a
    preset's and the caller's, `config_overrides`); saves model + tokenizer, returns its summary (also
    written to ``pretrain_results.json``)."""
    ds = load_data(data_args)
    tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=model_args.plm)
    rows = subsample(ds["train"], data_args.max_pretrain_samples, data_args.subsample_seed)
    with training_args.main_process_first(desc="encoding"):
        train = tokenizer.encode_dataset(rows, text=True)
    set_seed(training_args.seed)  # the initialisation follows the run's seed, whatever ran before in the process
    model = FlipForPretraining.from_text_pretrained(model_args.plm, tokenizer=tokenizer, **overrides)
    if model_args.num_text_layers:
        truncate_text_layers(model, model_args.num_text_layers)
    logger.info(
        "%s: %d pretraining rows, %d fields, %d feature ids; %d parameters; %s",
        data_args.dataset, len(train), tokenizer.num_fields, tokenizer.feature_vocab_size,
        model.num_parameters(), batch_layout(training_args),
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
        "global_batch_size": training_args.per_device_train_batch_size
        * training_args.world_size
        * training_args.gradient_accumulation_steps,
    }
    if training_args.should_save:
        write_results(training_args.output_dir, summary, "pretrain_results.json")
    logger.info("pretraining done in %.1f s -> %s", elapsed, training_args.output_dir)
    return PretrainResult(training_args.output_dir, summary)


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


def run_finetune(model_args: ModelArguments, overrides: dict[str, Any], data_args: DataArguments,
                 training_args: TrainingArguments) -> CTRResult:  # fmt: skip
    """Finetune FLIP (``mode="joint"``), FLIP_ID (``"id"``) or FLIP_PLM (``"plm"``) for CTR (paper
    Section IV-D) with `FlipConfig` ``overrides``; test once at the end; save model, tokenizer,
    ``results.json`` and a filled-in model card. Without ``pretrained_dir``, mode ``"id"`` is the plain
    ID model (the paper's "N/A")."""
    from transformers import EarlyStoppingCallback

    ds = load_data(data_args)
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
    return CTRResult(training_args.output_dir, results)


__all__ = ["build_ctr_model", "fit_tokenizer", "load_data", "run_finetune", "run_pretrain"]
