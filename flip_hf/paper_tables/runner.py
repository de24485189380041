"""Runs the rows of a table: each pretraining once (shared by every row and seed that needs it), then
each row's finetuning with its learning rate and epoch count chosen on the validation split, and the
test split read once per row and seed, at the end (with ``profile.refit``: from the chosen recipe
trained again on train + validation). Every result is written the moment it exists and a rerun skips
what is done, so an interrupted run (a device call that times out) loses nothing."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

from ..baselines import build_baseline, load_baseline, load_text_tokenizer, train_baseline
from ..data import field_sides, has_built_in_copy
from ..metrics import compute_ctr_metrics
from ..models.configuration_flip import PRETRAINING_PRESETS
from ..models.modeling_flip import FlipForCTR
from ..tokenization.collator import DataCollatorForCTR
from ..tokenization.tokenization_flip import FlipTabularTokenizer
from ..training.arguments import DataArguments, ModelArguments
from ..training.checkpoints import checkpoint_folders, resolve_checkpoint
from ..training.loops import (
    CTR_TRAINING_DEFAULTS,
    PRETRAIN_TRAINING_DEFAULTS,
    launcher_defaults,
    predict_ctr,
    train_ctr,
)
from ..training.pipelines import build_ctr_model, fit_tokenizer, load_data, run_pretrain
from ..training.trainer import FlipTrainer
from .definitions import TABLES, Row
from .keys import model_dir, predictions_path, pretrain_key, result_path, row_key, whole_train
from .profiles import DATA_DIR_ENV, FinetuneBudget, Profile

logger = logging.getLogger("flip_hf.paper_tables")


def _read_json(path: Path) -> dict | None:
    if path.is_file():
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return None


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=float)
    os.replace(tmp, path)  # a reader never sees half a file


def profile_data_dir(profile: Profile) -> str | None:
    """The raw data of ``profile``: its ``data_dir``, else `DATA_DIR_ENV` for a data set that does not
    ship (None for the built-in MovieLens-100K and for csv/parquet tables given by ``data_files``)."""
    if profile.data_dir or profile.data_files or has_built_in_copy(profile.dataset):
        return profile.data_dir
    env = os.environ.get(DATA_DIR_ENV)
    if not env:
        raise ValueError(
            f"Profile {profile.name!r} trains on {profile.dataset}, which has no built-in copy: pass --data_dir "
            f"(its folder or zip) or set {DATA_DIR_ENV}."
        )
    return env


def data_arguments(profile: Profile) -> DataArguments:
    return DataArguments(
        dataset=profile.dataset,
        data_dir=profile_data_dir(profile),
        data_files=profile.data_files,
        time_column=profile.time_column,
        label_threshold=profile.label_threshold,
        validation_size=profile.validation_size,
        max_train_samples=profile.max_train_samples,
        max_pretrain_samples=profile.pretrain_max_samples,
        max_seq_length=profile.max_seq_length,
        unseen_id=profile.unseen_id,
    )


PRETRAIN_BUDGET_KEYS = ("epochs", "learning_rate", "text_learning_rate", "seed", "num_text_layers")


def ensure_pretrained(row: Row, profile: Profile, work_dir: Path) -> tuple[Path, dict]:
    """The row's pretraining folder and summary; runs (or resumes) the pretraining when missing."""
    unknown = set(row.pretrain_budget) - set(PRETRAIN_BUDGET_KEYS)
    if unknown:
        raise ValueError(
            f"Row {row.name!r}: unknown pretrain_budget key(s) {sorted(unknown)}; known: {PRETRAIN_BUDGET_KEYS}."
        )
    out = work_dir / "pretrain" / pretrain_key(row, profile)
    summary = _read_json(out / "pretrain_results.json")
    if summary is not None:
        return out, summary
    resume = _last_checkpoint(out)
    logger.info("pretraining %s (%s)%s", row.preset, row.id_model, f", resuming {resume}" if resume else "")
    args = TrainingArguments(
        **{
            **PRETRAIN_TRAINING_DEFAULTS,
            **launcher_defaults(),
            "output_dir": str(out),
            "num_train_epochs": row.pretrain_budget.get("epochs", profile.pretrain_epochs),
            "per_device_train_batch_size": profile.pretrain_batch_size,
            "learning_rate": row.pretrain_budget.get("learning_rate", profile.pretrain_learning_rate),
            "save_total_limit": 1,
            "save_strategy": "steps",
            "save_steps": 0.1,  # a checkpoint every tenth of the run: an interrupted run resumes from it
            "logging_steps": 0.02,  # 50 points of every loss curve, whatever the run's length
            "seed": row.pretrain_budget.get("seed", profile.pretrain_seed),
            "bf16": profile.bf16,
            "resume_from_checkpoint": resume,
        }
    )
    overrides = {**PRETRAINING_PRESETS[row.preset], "id_model": row.id_model, **row.pretrain_overrides}
    model_args = ModelArguments(
        plm=profile.plm,
        num_text_layers=row.pretrain_budget.get("num_text_layers", profile.num_text_layers),
        preset=row.preset,
        text_learning_rate=row.pretrain_budget.get("text_learning_rate"),
    )
    summary = run_pretrain(model_args, overrides, data_arguments(profile), args)
    return out, summary


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder of an interrupted run, or None."""
    return resolve_checkpoint("last", str(folder)) if checkpoint_folders(str(folder)) else None


def _finetune_arguments(out: Path, profile: Profile, budget: FinetuneBudget, lr: float, seed: int, text: bool,
                        epochs: float | None = None):  # fmt: skip
    """Finetuning arguments: up to ``budget.max_epochs`` with the best epoch on validation kept, or,
    with ``epochs`` (a refit, no validation split), exactly that many epochs and the final model."""
    select = {
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "save_total_limit": 1,
        "save_only_model": True,
        "load_best_model_at_end": True,
        "metric_for_best_model": "auc",
        "greater_is_better": True,
    }
    return TrainingArguments(
        **{
            **CTR_TRAINING_DEFAULTS,
            **launcher_defaults(),
            **(select if epochs is None else {}),
            "output_dir": str(out),
            "learning_rate": lr,
            "num_train_epochs": budget.max_epochs if epochs is None else epochs,
            "per_device_train_batch_size": budget.batch_size,
            "per_device_eval_batch_size": profile.eval_batch_size,
            "seed": seed,
            "bf16": profile.bf16,
            "disable_tqdm": not text,
            "logging_steps": 100,
            **(
                {"warmup_steps": budget.warmup_ratio, "lr_scheduler_type": "constant_with_warmup"}
                if budget.warmup_ratio
                else {}
            ),  # fmt: skip
        }
    )


def _train_once(row: Row, profile: Profile, budget: FinetuneBudget, args: TrainingArguments, ds,
                pretrained_dir: Path | None, callbacks: list, text_learning_rate: float | None = None):  # fmt: skip
    """One finetuning run of ``row`` under ``args`` (the text encoder at ``text_learning_rate``, default
    the budget's): (trainer, encoded splits, facts)."""
    text_lr = text_learning_rate if text_learning_rate is not None else budget.text_learning_rate
    data_args = data_arguments(profile)
    set_seed(args.seed)
    if row.is_baseline:
        plm = profile.seq2seq_plm if row.mode == "p5" else profile.plm
        tokenizer = fit_tokenizer(ds, data_args, text_tokenizer=load_text_tokenizer(plm))
        user, item = (list(profile.user_fields), None) if profile.user_fields else field_sides(profile.dataset)
        model, processor = build_baseline(
            row.mode, tokenizer, plm, user, item, num_text_layers=profile.num_text_layers, **row.finetune_overrides
        )
        return train_baseline(model, processor, ds, args, text_lr, callbacks)
    model_args = ModelArguments(
        plm=profile.plm,
        num_text_layers=profile.num_text_layers,
        pretrained_dir=str(pretrained_dir) if pretrained_dir else None,
        text_learning_rate=text_lr,
    )
    overrides = {"mode": row.mode, **row.finetune_overrides}
    if pretrained_dir is None:
        overrides["id_model"] = row.id_model
    model, tokenizer = build_ctr_model(model_args, overrides, ds, data_args)
    return train_ctr(model, tokenizer, ds, args, row.uses_text, text_lr, callbacks)


def selection_grid(row: Row, budget: FinetuneBudget) -> list[tuple[float, float | None]]:
    """The (learning rate, text encoder learning rate) pairs a row's selection tries: the budget's
    learning rates, times its text learning rates for a text row (``text_learning_rates``, else the
    fixed ``text_learning_rate``)."""
    text_lrs = (budget.text_learning_rates or (budget.text_learning_rate,)) if row.uses_text else (None,)
    return [(lr, text_lr) for lr in budget.learning_rates for text_lr in text_lrs]


def finetune_row(row: Row, profile: Profile, seed: int, work_dir: Path, pretrained_dir: Path | None,
                 grid_of: list[tuple[float, float | None]] | None = None) -> dict:  # fmt: skip
    """Select the learning rates (and, by early stopping, the epoch) on validation AUC; test once.
    ``grid_of``: the (learning rate, text learning rate) pairs tried (default: `selection_grid`). Each
    finished pair is recorded in ``grid.json`` beside the best model, so an interrupted selection
    resumes at the next one."""
    budget = profile.text_finetune if row.uses_text else profile.id_finetune
    pairs = [tuple(p) for p in (grid_of or selection_grid(row, budget))]
    several_text_lrs = len({t for _, t in pairs}) > 1
    ds = load_data(data_arguments(profile))
    best_dir = model_dir(row, profile.replace(refit=False), seed, work_dir)
    run_dir, encoded = best_dir.parent, None
    grid = (_read_json(run_dir / "grid.json") or {}).get("grid", [])
    grid = [g for g in grid if _pair(g) in pairs and "validation_curve" in g] if best_dir.is_dir() else []
    saved = _read_json(best_dir / SELECTION_FILE)
    if grid and (saved is None or tuple(saved["pair"]) != _pair(max(grid, key=lambda g: g["validation_auc"]))):
        logger.warning("%s: the saved best model is not the best of its grid (interrupted): selecting again", run_dir)
        shutil.rmtree(best_dir, ignore_errors=True)
        grid = []
    for lr, text_lr in pairs:
        if any(_pair(g) == (lr, text_lr) for g in grid):
            continue
        out = run_dir / (f"lr{lr:g}" + (f"-text{text_lr:g}" if several_text_lrs else ""))
        args = _finetune_arguments(out, profile, budget, lr, seed, row.uses_text)
        stop = [EarlyStoppingCallback(early_stopping_patience=budget.patience)] if budget.max_epochs > 1 else []
        trainer, encoded, facts = _train_once(row, profile, budget, args, ds, pretrained_dir, stop, text_lr)
        trainer.remove_callback(EarlyStoppingCallback)  # it reads eval_* metrics only: done with training
        val = predict_ctr(trainer, encoded, "validation")[0]
        curve = [h["eval_auc"] for h in trainer.state.log_history if "eval_auc" in h]  # AUC after each epoch
        entry = {**facts, "learning_rate": lr, "text_learning_rate": text_lr, "validation_curve": curve,
                 **{f"validation_{k}": v for k, v in val.items()}}  # fmt: skip
        logger.info("%s seed %d lr %g text lr %s: validation AUC %.4f", row.name, seed, lr, text_lr, val["auc"])
        if not grid or val["auc"] > max(g["validation_auc"] for g in grid):
            trainer.save_model(str(best_dir))
            _write_json(best_dir / SELECTION_FILE, {"pair": [lr, text_lr], "validation_auc": val["auc"]})
        grid.append(entry)
        _write_json(run_dir / "grid.json", {"grid": grid})  # after the model it may name as best
        del trainer
        shutil.rmtree(out, ignore_errors=True)
    best = max(grid, key=lambda g: g["validation_auc"])  # the first of equals, as saved
    if encoded is None:  # every pair was done before: encode the splits for the test read
        encoded = _encode_for(row, best_dir, ds)
    test = _evaluate_saved(best_dir, row, encoded, profile, work_dir)
    return {
        "learning_rate": best["learning_rate"],
        "searched_learning_rates": sorted({lr for lr, _ in pairs}),
        "text_learning_rate": best["text_learning_rate"],
        "searched_text_learning_rates": sorted({t for _, t in pairs if t is not None}),
        "best_epoch": best.get("best_checkpoint_epoch"),
        "epochs_run": best["epochs_run"],
        **{k: v for k, v in best.items() if k.startswith("validation_")},  # with its validation_curve
        **test,
        "grid": grid,
        "train_samples": best["train_samples"],
        "test_samples": best["test_samples"],
    }


SELECTION_FILE = "selection.json"
"""Beside a selection's best model: the (learning rate, text learning rate) it was trained at, so that a
resumed selection can tell whether the saved model is its grid's best."""


def _pair(entry: dict) -> tuple[float, float | None]:
    return entry["learning_rate"], entry.get("text_learning_rate")


def _encode_for(row: Row, folder: Path, ds):
    """The splits of ``ds`` encoded by the tokenizer (or baseline processor) saved in ``folder``."""
    if row.is_baseline:
        return load_baseline(str(folder))[1].encode_dataset(ds)
    return FlipTabularTokenizer.from_pretrained(str(folder)).encode_dataset(ds, text=row.uses_text)


def train_recipe(row: Row, profile: Profile, seed: int, work_dir: Path, final: Path, pretrained_dir: Path | None,
                 learning_rate: float, epochs: float, data_profile: Profile | None = None,
                 text_learning_rate: float | None = None) -> dict:  # fmt: skip
    """Train ``row`` at one learning rate for exactly ``epochs`` epochs (no selection) on
    ``data_profile``'s train split (default: ``profile``'s), save it in ``final`` and read the test split
    once (and validation, when the data has it). The constant schedule makes ``epochs`` epochs the
    same recipe as a selection run stopped at that epoch."""
    budget = profile.text_finetune if row.uses_text else profile.id_finetune
    data_profile = data_profile or profile
    ds = load_data(data_arguments(data_profile))
    args = _finetune_arguments(final.parent, profile, budget, learning_rate, seed, row.uses_text, epochs)
    trainer, encoded, facts = _train_once(row, data_profile, budget, args, ds, pretrained_dir, [], text_learning_rate)
    trainer.save_model(str(final))
    val = predict_ctr(trainer, encoded, "validation")[0] if "validation" in encoded else {}
    del trainer
    test = _evaluate_saved(final, row, encoded, profile, work_dir)
    return {
        "learning_rate": learning_rate,
        "text_learning_rate": facts["text_learning_rate"],
        "epochs_run": facts["epochs_run"],
        **{f"validation_{k}": v for k, v in val.items()},
        **test,
        "train_samples": facts["train_samples"],
        "test_samples": facts["test_samples"],
    }


def refit_row(row: Row, profile: Profile, seed: int, work_dir: Path, pretrained_dir: Path | None,
              selected: dict, epochs: float, recipe: dict[str, float] | None = None) -> dict:  # fmt: skip
    """Train ``row`` again with the learning rates ``selected`` on validation, for ``epochs`` epochs
    (the row's, `_row_epochs`), on the whole train split, validation included (`train_recipe`); then
    read the test split once. ``pretrained_dir``: the row's pretraining on that split."""
    final = model_dir(row, profile.replace(refit=True), seed, work_dir, recipe)
    result = train_recipe(row, profile, seed, work_dir, final, pretrained_dir, selected["learning_rate"], epochs,
                          whole_train(profile), selected.get("text_learning_rate"))  # fmt: skip
    keep = ("best_epoch", "validation_auc", "validation_logloss", "validation_samples")
    return {
        **result,
        **{k: selected[k] for k in keep if k in selected},
        "without_refit": {k: selected[k] for k in ("auc", "logloss", "train_samples")},
    }


def _evaluate_saved(best_dir: Path, row: Row, encoded, profile: Profile, work_dir: Path) -> dict:
    """The model a result reports, read back from its folder, on the test split (the only test read):
    its metrics (`predict_ctr`) and ``predictions``, the npz of its test probabilities (float32, in the
    test split's row order; a joint model's halves too) under ``work_dir`` (`predictions_path`)."""
    if row.is_baseline:
        model, processor = load_baseline(str(best_dir))
        collator = processor.data_collator(training=False)
    else:
        model = FlipForCTR.from_pretrained(str(best_dir))
        collator = DataCollatorForCTR(FlipTabularTokenizer.from_pretrained(str(best_dir)), text=row.uses_text)
    args = TrainingArguments(
        output_dir=str(best_dir / "eval"),
        per_device_eval_batch_size=profile.eval_batch_size,
        report_to="none",
        bf16=profile.bf16,
        disable_tqdm=True,
        label_names=["labels"],
        remove_unused_columns=False,
        **launcher_defaults(),
    )
    trainer = FlipTrainer(model=model, args=args, data_collator=collator, compute_metrics=compute_ctr_metrics)
    metrics, arrays = predict_ctr(trainer, encoded, "test")
    path = predictions_path(best_dir, work_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v.astype(np.int8 if k == "labels" else np.float32) for k, v in arrays.items()}
    np.savez_compressed(path.with_suffix(".tmp.npz"), **arrays)
    os.replace(path.with_suffix(".tmp.npz"), path)
    return {**metrics, "predictions": str(path.relative_to(work_dir))}


def run_table(table: str, profile: Profile, work_dir: str | os.PathLike, rows: list[str] | None = None,
              train: bool = True) -> list[dict]:  # fmt: skip
    """Every (row, seed) result of ``table`` under ``profile``; finished ones are read back. A row
    with ``budget_of`` or ``recipe_from`` runs after the row it names (which must be selected too);
    results come in table order.
    ``train=False``: only the finished results (a report while the runs go on)."""
    if table not in TABLES:
        raise ValueError(f"Unknown table {table!r}; tables: {', '.join(TABLES)}.")
    selected = TABLES[table]
    if rows:
        unknown = [r for r in rows if r not in {row.name for row in selected}]
        if unknown:
            raise ValueError(f"Table {table} has no row(s) {unknown}; rows: {[row.name for row in selected]}.")
        selected = [row for row in selected if row.name in rows]
    names = [row.name for row in selected]
    for row in selected:
        for source in (row.budget_of, row.recipe_from):
            if source is not None and source not in names:
                raise ValueError(f"Row {row.name!r} takes its recipe from {source!r}: select that row too.")
    selected = _sources_first(selected)
    work_dir = Path(work_dir)
    results, done = [], {}
    for row in selected:
        if row.mode == "p5" and not profile.seq2seq_plm:
            logger.info("%s: skipped, it needs a T5 checkpoint (--p5_plm)", row.name)
            results.append({"row": row.name, "mode": row.mode, "skipped": "needs a T5 checkpoint (--p5_plm)"})
            continue
        budget = profile.text_finetune if row.uses_text else profile.id_finetune
        first, row_results = None, []
        source = next((r for (name, _), r in done.items() if name == row.recipe_from), None)  # its first seed
        if row.recipe_from and source is None:  # not finished (train=False)
            continue
        for seed in profile.text_seeds if row.uses_text else profile.id_seeds:
            if row.budget_of and (row.budget_of, seed) not in done:  # its source is not finished (train=False)
                continue
            recipe, grid = None, None
            if row.budget_of:
                recipe = _recipe_of(done[(row.budget_of, seed)])
            elif source is not None:
                recipe = {k: source[k] for k in ("learning_rate", "text_learning_rate")}
                grid = [_pair(source)]
            elif first is not None and budget.search_first_seed_only:
                grid = [_pair(first)]
            result = _row_result(row, profile, seed, work_dir, recipe, grid, train)
            if result is None:
                continue
            first = first or result
            if source is not None:
                result["recipe_from"] = {"row": row.recipe_from, "seed": source["seed"], **recipe}
            elif grid:
                result["learning_rate_searched_on_seed"] = first["seed"]
            if row.budget_of:
                result["budget_of"] = {"row": row.budget_of, **recipe}
            # the row's own description: a cached run may have been made for an equivalent row of another table
            result.update(
                row=row.name,
                mode=row.mode,
                preset=row.preset,
                id_model=row.id_model,
                pretrain_overrides=row.pretrain_overrides,
                finetune_overrides=row.finetune_overrides,
            )
            done[(row.name, seed)] = result
            row_results.append((seed, recipe, result))
        epochs = _row_epochs(row, [r for _, _, r in row_results])
        for seed, recipe, result in row_results:
            result["row_epochs"] = epochs
            if profile.refit:
                refit = _refit_result(row, profile, seed, work_dir, result, epochs, train, recipe)
                if refit is None:
                    continue
                result = {**result, **refit}  # the selection's annotations, the refit's numbers
            logger.info("%s seed %d: test AUC %.4f Logloss %.4f", row.name, seed, result["auc"], result["logloss"])
            results.append(result)
    return sorted(results, key=lambda r: names.index(r["row"]))


def _sources_first(rows: list[Row]) -> list[Row]:
    """Table order, except that a row a ``budget_of`` / ``recipe_from`` row needs runs before it."""
    by_name, ordered = {row.name: row for row in rows}, []

    def place(row: Row) -> None:
        if row not in ordered:
            for source in (row.budget_of, row.recipe_from):
                if source is not None:
                    place(by_name[source])
            ordered.append(row)

    for row in rows:
        place(row)
    return ordered


def _row_epochs(row: Row, selections: list[dict]) -> float | None:
    """The epoch count a row's refits (and the budget controls that copy it) train for: the epoch whose
    validation AUC, averaged over the row's seeds, is highest (over the epochs every seed reached). One
    seed's early stop is noise (MovieLens-1M DCNv2: 0.8222 after epoch 1 against 0.8219 after epoch 2
    stopped a seed at 1 epoch, and its refit read 0.847 on test where 2 epochs read 0.854-0.857).
    A budget control keeps its source's count."""
    if not selections:
        return None
    if row.budget_of:
        return selections[0]["budget_of"]["epochs"]
    curves = [r.get("validation_curve") for r in selections]
    if any(not c for c in curves):  # no curve (a cached result from before curves were kept)
        return selections[0]["best_epoch"] or selections[0]["epochs_run"]
    common = min(len(c) for c in curves)
    mean = [sum(c[e] for c in curves) / len(curves) for e in range(common)]
    return float(1 + max(range(common), key=lambda e: mean[e]))


def _recipe_of(result: dict) -> dict[str, float]:
    """The learning rates and epoch count a row chose: its row-level epoch count (`_row_epochs`), else
    the seed's best epoch under early stopping."""
    epochs = result.get("row_epochs") or result["best_epoch"] or result["epochs_run"]
    recipe = {"learning_rate": result["learning_rate"], "epochs": epochs}
    if result.get("text_learning_rate") is not None:
        recipe["text_learning_rate"] = result["text_learning_rate"]
    return recipe


def _row_result(row: Row, profile: Profile, seed: int, work_dir: Path, recipe: dict[str, float] | None,
                grid: tuple[float, ...] | None, train: bool = True) -> dict | None:  # fmt: skip
    """The cached or new result of one row and seed on the selection split: selected over ``grid``
    (`finetune_row`), or trained at a fixed ``recipe`` (`train_recipe`); None if not cached and not ``train``."""
    path = result_path(row, profile.replace(refit=False), seed, work_dir, recipe)
    result = _read_json(path)
    if result is not None and train and not row.budget_of and "validation_curve" not in result:
        logger.info("%s seed %d: cached without its validation curve: trained again", row.name, seed)
        result = None
    if result is not None and grid and _pair(result) != tuple(grid[0]):  # the first seed chose anew
        logger.warning("%s seed %d: cached at %s, not at %s: trained again", row.name, seed, _pair(result), grid[0])
        result = None
    if result is not None or not train:
        return result

    def run(pretrained_dir: Path | None) -> dict:
        if not row.budget_of:
            return finetune_row(row, profile, seed, work_dir, pretrained_dir, grid)
        final = model_dir(row, profile.replace(refit=False), seed, work_dir, recipe)
        out = train_recipe(row, profile, seed, work_dir, final, pretrained_dir, recipe["learning_rate"],
                           recipe["epochs"], text_learning_rate=recipe.get("text_learning_rate"))  # fmt: skip
        return {**out, "best_epoch": None}

    pretraining = whole_train(profile) if profile.pretrain_on_whole_train else profile
    return _train_and_record(row, pretraining, seed, work_dir, path, run)


def _refit_result(row: Row, profile: Profile, seed: int, work_dir: Path, selected: dict, epochs: float,
                  train: bool = True, recipe: dict[str, float] | None = None) -> dict | None:  # fmt: skip
    """The cached or new `refit_row` result of a row and seed (its pretraining on the whole train split)
    for ``epochs`` epochs; ``recipe``: what the row took from another (`row_key`)."""
    path = result_path(row, profile, seed, work_dir, recipe)
    result = _read_json(path)
    if result is not None and (_pair(result) != _pair(selected) or result.get("refit_epochs") != epochs):
        result = None  # the selection, or the row's epoch count, changed since
    if result is None and train:
        result = _train_and_record(
            row, whole_train(profile), seed, work_dir, path,
            lambda pretrained_dir: refit_row(row, profile, seed, work_dir, pretrained_dir, selected, epochs, recipe),
            earlier_wall_time_s=selected["wall_time_s"], refit_epochs=epochs,
        )  # fmt: skip
    return result


def _train_and_record(row: Row, pretraining: Profile, seed: int, work_dir: Path, path: Path,
                      run: Callable[[Path | None], dict], earlier_wall_time_s: float = 0.0,
                      **facts: Any) -> dict:  # fmt: skip
    """``run(pretrained_dir)`` (the row's pretraining on ``pretraining``'s train split, made or read
    back; None without one), recorded in ``path`` with its seed, pretraining, ``facts`` and wall time
    (plus ``earlier_wall_time_s``: a refit's selection)."""
    start = time.perf_counter()
    pretrained_dir, pretrain = ensure_pretrained(row, pretraining, work_dir) if row.preset else (None, None)
    result = run(pretrained_dir)
    result.update(
        seed=seed,
        pretrain=_pretrain_facts(pretrained_dir, pretrain),
        wall_time_s=round(earlier_wall_time_s + time.perf_counter() - start, 1),
        **facts,
    )
    _write_json(path, result)
    return result


def _pretrain_facts(folder: Path | None, summary: dict | None) -> dict | None:
    if summary is None:
        return None
    keep = ("preset", "config_overrides", "train_samples", "epochs", "global_step", "train_time_s", "final_losses")
    return {"folder": folder.name, **{k: summary.get(k) for k in keep}}


__all__ = [
    "data_arguments",
    "ensure_pretrained",
    "finetune_row",
    "model_dir",
    "predictions_path",
    "pretrain_key",
    "profile_data_dir",
    "refit_row",
    "result_path",
    "row_key",
    "run_table",
    "selection_grid",
    "train_recipe",
    "whole_train",
]
