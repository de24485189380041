"""The names of the tables runner's runs: the keys of a row's pretraining and finetuning (digests of
every setting that changes the run, so a cached run is never mistaken for another) and the paths of
its result file, saved model and test predictions under the work folder."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..models.configuration_flip import PRETRAINING_PRESETS, FlipConfig
from .definitions import Row
from .profiles import Profile


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]


FINETUNING_ONLY_FIELDS = ("mode", "alpha_init", "alpha_learning_rate")
"""`FlipConfig` fields a pretraining never reads: left out of its key, so that a change of them
does not send every row back to pretraining."""


def _effective_config(overrides: dict[str, Any], pretraining: bool = False) -> dict[str, Any]:
    """Every `FlipConfig` hyperparameter with ``overrides`` applied (a pretraining's: without
    `FINETUNING_ONLY_FIELDS`): keys built on it change when a default changes, so a cached run is never
    mistaken for a run under new defaults."""
    names = [n for n in FlipConfig.__annotations__ if not (pretraining and n in FINETUNING_ONLY_FIELDS)]
    return {name: overrides.get(name, getattr(FlipConfig, name, None)) for name in names}


def pretrain_key(row: Row, profile: Profile) -> str:
    """Folder name of a row's pretraining run: the same run serves every row that needs it."""
    overrides = {**PRETRAINING_PRESETS[row.preset], **row.pretrain_overrides, "id_model": row.id_model}
    config = _effective_config(overrides, pretraining=True)
    what = {
        "config": config,
        "profile": profile.name,
        "data": [profile.dataset, profile.data_files, profile.max_train_samples, profile.validation_size]
        + ([profile.pretrain_max_samples] if profile.pretrain_max_samples else []),
        "text": profile.max_seq_length,
        "plm": [profile.plm, profile.num_text_layers],
        "budget": [profile.pretrain_epochs, profile.pretrain_batch_size, profile.pretrain_learning_rate]
        + ([row.pretrain_budget] if row.pretrain_budget else []),
        "seed": profile.pretrain_seed,
    }
    return f"{row.id_model}-{row.preset}-{_digest(what)}"


def row_key(row: Row, profile: Profile, seed: int, recipe: dict[str, float] | None = None) -> str:
    """Name of a row's result file: rows of different tables that are the same run share it.
    ``recipe``: what a ``budget_of`` or ``recipe_from`` row takes from another row (learning rates,
    epochs). The budget's fields added after runs were cached (`FinetuneBudget.key_extras`) enter the
    key only when set, so those runs keep their keys."""
    budget = profile.text_finetune if row.uses_text else profile.id_finetune
    config = _effective_config({**row.finetune_overrides, "mode": row.mode, "id_model": row.id_model})
    what = [config, budget, seed, profile.eval_batch_size] + (
        [profile.unseen_id] if profile.unseen_id != "unknown" else []
    )
    if budget.key_extras():
        what.append(budget.key_extras())
    if recipe is not None:
        what.append(recipe)
    plms = [profile.name, profile.plm] + ([profile.seq2seq_plm] if row.mode == "p5" else [])
    base = pretrain_key(row, profile) if row.preset else f"{row.id_model}-none-{_digest(plms)}"
    return f"{base}--{row.mode}-seed{seed}-{_digest(what)}"


def whole_train(profile: Profile) -> Profile:
    """``profile`` without its validation split: the data a refit, and its pretraining, train on."""
    return profile.replace(validation_size=None)


def result_path(row: Row, profile: Profile, seed: int, work_dir: str | os.PathLike,
                recipe: dict[str, float] | None = None) -> Path:  # fmt: skip
    """A row's result file for ``seed``: its selection, or with ``profile.refit`` its refit."""
    suffix = "--refit" if profile.refit else ""
    return Path(work_dir) / "results" / f"{row_key(row, profile, seed, recipe)}{suffix}.json"


def model_dir(row: Row, profile: Profile, seed: int, work_dir: str | os.PathLike,
              recipe: dict[str, float] | None = None) -> Path:  # fmt: skip
    """The saved model whose test numbers a row's result reports: the one selected on validation, or,
    with ``profile.refit``, its recipe trained again on train + validation, or (a ``budget_of`` row) the
    model of its fixed recipe."""
    key = row_key(row, profile, seed, recipe)
    if profile.refit:
        return Path(work_dir) / "finetune" / f"{key}--refit" / "final"
    return Path(work_dir) / "finetune" / key / ("final" if row.budget_of else "best")


def predictions_path(model_folder: Path, work_dir: str | os.PathLike) -> Path:
    """Where the test predictions of a saved model are kept: ``<work_dir>/predictions/<run>.npz``."""
    run = model_folder.relative_to(Path(work_dir) / "finetune")
    return Path(work_dir) / "predictions" / f"{'--'.join(run.parts)}.npz"


__all__ = [
    "FINETUNING_ONLY_FIELDS",
    "model_dir",
    "predictions_path",
    "pretrain_key",
    "result_path",
    "row_key",
    "whole_train",
]
