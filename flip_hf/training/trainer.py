"""`Trainer` subclasses for FLIP: checkpoints without pickled arguments, resuming only from complete
checkpoints, Hub pushes of the model files only, a separate learning rate for the text encoder when
finetuning (paper Section IV-D), and per-objective loss logging plus per-epoch corruptions for
pretraining (paper Section IV-C)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback

from .checkpoints import resolve_checkpoint
from .hub import create_hub_repo, push_checkpoint_to_hub

logger = logging.getLogger(__name__)


class CollatorEpochCallback(TrainerCallback):
    """Tells a collator with ``set_epoch`` which epoch starts, so that each epoch draws new random
    choices (pretraining corruptions, P5 templates); a resumed run lands in its checkpoint's epoch."""

    def __init__(self, collator: Any):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(math.floor((state.epoch or 0.0) + 1e-9))


class FlipTrainer(Trainer):
    """`Trainer` whose saved model folders hold no pickle: the training arguments are written as
    ``training_args.json`` instead of ``training_args.bin``. (Intermediate ``checkpoint-*`` folders
    keep the Trainer's optimizer/scheduler/RNG state files, which resuming needs.) It resumes only
    from a complete checkpoint (``resume_from_checkpoint`` also takes ``"last"``; see
    `resolve_checkpoint`), names the state file that fails to load, and pushes only the model,
    tokenizer, card and config files to the Hub (`flip_hf.training.hub.HUB_FILES`).

    ``text_learning_rate``: the text encoder's parameters get this learning rate, the rest the
    Trainer's ``learning_rate``; a joint model's fusion logit gets ``config.alpha_learning_rate``, and
    its ``alpha`` is logged with the loss.
    """

    def __init__(self, *args: Any, text_learning_rate: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.text_learning_rate = text_learning_rate
        if hasattr(self.data_collator, "set_epoch"):
            if self.args.dataloader_persistent_workers and self.args.dataloader_num_workers > 0:
                raise ValueError(
                    "dataloader_persistent_workers keeps each worker's copy of the collator, so its epoch would "
                    "never change (every epoch would draw the first epoch's random choices, and a resumed run "
                    "those of its checkpoint's epoch): leave it off with this collator."
                )
            self.add_callback(CollatorEpochCallback(self.data_collator))

    def _group_overrides(self) -> dict[int, dict[str, float]]:
        """Per-parameter optimizer settings that differ from the Trainer's: the text encoder's
        ``text_learning_rate``, and the joint fusion logit's ``config.alpha_learning_rate`` (no decay)."""
        overrides: dict[int, dict[str, float]] = {}
        text_model = getattr(self.model, "text_model", None)
        if self.text_learning_rate is not None and text_model is not None:
            overrides.update({id(p): {"lr": self.text_learning_rate} for p in text_model.parameters()})
        alpha_logit = getattr(self.model, "alpha_logit", None)
        alpha_lr = getattr(getattr(self.model, "config", None), "alpha_learning_rate", None)
        if isinstance(alpha_logit, torch.nn.Parameter) and alpha_lr is not None:
            overrides[id(alpha_logit)] = {"lr": alpha_lr, "weight_decay": 0.0}
        return overrides

    def create_optimizer(self, model=None):
        """The Trainer's optimizer, its groups split where `_group_overrides` sets another learning
        rate: the text encoder (``text_learning_rate``) and the fusion weight (paper Eq. 15)."""
        optimizer = super().create_optimizer(model)
        overrides = self._group_overrides()
        if not overrides or getattr(self, "_group_overrides_applied", False):
            return optimizer
        plain, special = [], []  # the Trainer's own rate first: its logged learning_rate is group 0's
        for group in optimizer.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            split: dict[tuple, list] = {}
            for p in group["params"]:
                split.setdefault(tuple(sorted(overrides.get(id(p), {}).items())), []).append(p)
            for extra, params in split.items():
                (special if extra else plain).append({**settings, **dict(extra), "params": params})
        groups = plain + special
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        self._group_overrides_applied = True
        return optimizer

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """`Trainer.log`, adding the joint model's fusion weight ``alpha`` to each training log."""
        alpha = getattr(self.model, "alpha", None)
        if "loss" in logs and isinstance(alpha, torch.Tensor):
            logs["alpha"] = round(float(alpha.detach()), 4)
        super().log(logs, *args, **kwargs)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        """`Trainer.train`; ``resume_from_checkpoint`` also takes ``"last"`` (like True: the newest
        checkpoint of ``output_dir``), and only a complete checkpoint is resumed (`resolve_checkpoint`)."""
        checkpoint = resolve_checkpoint(resume_from_checkpoint, self.args.output_dir, self.args.world_size)
        if checkpoint is not None:
            logger.info("resuming from %s", checkpoint)
        return super().train(checkpoint, *args, **kwargs)

    def _load_rng_state(self, checkpoint: str | None) -> None:
        try:
            super()._load_rng_state(checkpoint)
        except Exception as err:  # re-raised naming the file
            rank = self.args.process_index
            name = "rng_state.pth" if self.args.world_size <= 1 else f"rng_state_{rank}.pth"
            raise RuntimeError(
                f"Cannot restore the RNG state from {os.path.join(checkpoint, name)} "
                f"(read with torch.load(weights_only=True)): {type(err).__name__}: {err}"
            ) from err

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        try:
            super()._load_optimizer_and_scheduler(checkpoint)
        except Exception as err:  # re-raised naming the files
            raise RuntimeError(
                f"Cannot restore the optimizer/scheduler state from {checkpoint} (optimizer.pt, scheduler.pt, "
                f"read with torch.load(weights_only=True)): {type(err).__name__}: {err}"
            ) from err

    # -- Hub: the model, tokenizer, card and config files only (`flip_hf.training.hub.upload_folder_contents`)
    def init_hf_repo(self, token: str | None = None, private: bool | None = None) -> None:
        """Create the Hub repo (``hub_model_id``, else the output folder's name); private unless
        ``hub_private_repo=False``."""
        if not self.is_world_process_zero():
            return
        repo_id = self.args.hub_model_id or Path(self.args.output_dir).absolute().name
        private = self.args.hub_private_repo if private is None else private
        self.hub_model_id = create_hub_repo(repo_id, private=private, token=token or self.args.hub_token)
        self.push_in_progress = None

    def push_to_hub(
        self,
        commit_message: str | None = "End of training",
        blocking: bool = True,
        token: str | None = None,
        revision: str | None = None,
        private: bool | None = None,
        **kwargs: Any,
    ) -> str | None:
        """Save the model and upload ``output_dir``'s model, tokenizer, card and config files: never
        data, results or argument files, logs, checkpoints, optimizer/RNG states or credentials. A
        model card is written (`Trainer.create_model_card`, with ``kwargs``) only when the folder has
        none. Uploads block; returns the commit URL on the main process."""
        token = token if token is not None else self.args.hub_token
        if self.hub_model_id is None:
            self.init_hf_repo(token=token, private=private)
        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        if not os.path.isfile(os.path.join(self.args.output_dir, "README.md")):
            self.create_model_card(model_name=Path(self.hub_model_id).name, **kwargs)
        return push_checkpoint_to_hub(
            self.args.output_dir,
            self.hub_model_id,
            private=self.args.hub_private_repo is not False,
            token=token,
            commit_message=commit_message,
            revision=revision or self.args.hub_revision,
        )

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """During training (``hub_strategy`` other than ``"end"``): the checkpoint's model files only."""
        if not self.is_world_process_zero() or getattr(self.args.hub_strategy, "value", None) == "end":
            return
        push_checkpoint_to_hub(
            checkpoint_folder,
            self.hub_model_id,
            private=self.args.hub_private_repo is not False,
            token=self.args.hub_token,
            commit_message=f"Training in progress, step {self.state.global_step}",
            revision=self.args.hub_revision,
        )

    def _save(self, output_dir: str | None = None, state_dict=None):
        super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        pickled = os.path.join(output_dir, "training_args.bin")
        if self.args.should_save and os.path.exists(pickled):
            os.remove(pickled)
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as fh:
                fh.write(self.args.to_json_string())


class FlipPretrainingTrainer(FlipTrainer):
    """`Trainer` that also logs ``mlm_loss``, ``mtm_loss`` and ``icl_loss`` (means since the last log)."""

    _PARTS = ("mlm_loss", "mtm_loss", "icl_loss")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._part_sums = {k: 0.0 for k in self._PARTS}
        self._part_count = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        if model.training:  # kept on the device: no host sync per step
            for k in self._PARTS:
                self._part_sums[k] = self._part_sums[k] + getattr(outputs, k).detach().float()
            self._part_count += 1
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self._part_count and "loss" in logs:
            for k in self._PARTS:
                logs[k] = round(float(self._part_sums[k]) / self._part_count, 4)
                self._part_sums[k] = 0.0
            self._part_count = 0
        super().log(logs, *args, **kwargs)


__all__ = ["CollatorEpochCallback", "FlipTrainer", "FlipPretrainingTrainer"]
