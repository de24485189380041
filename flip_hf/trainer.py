"""`Trainer` subclasses for FLIP: checkpoints without pickled arguments, a separate learning rate for
the text encoder when finetuning (paper Section IV-D), and per-objective loss logging plus per-epoch
corruptions for pretraining (paper Section IV-C)."""

from __future__ import annotations

import math
import os
from typing import Any

from transformers import Trainer, TrainerCallback


class FlipTrainer(Trainer):
    """`Trainer` whose saved model folders hold no pickle: the training arguments are written as
    ``training_args.json`` instead of ``training_args.bin``. (Intermediate ``checkpoint-*`` folders
    keep the Trainer's optimizer/scheduler/RNG state files, which resuming needs.)

    ``text_learning_rate``: the text encoder's parameters get this learning rate, the rest the
    Trainer's ``learning_rate``.
    """

    def __init__(self, *args: Any, text_learning_rate: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.text_learning_rate = text_learning_rate

    def create_optimizer(self, model=None):
        """The Trainer's optimizer; with ``text_learning_rate`` the text encoder gets its own lr."""
        optimizer = super().create_optimizer(model)
        text_model = getattr(self.model, "text_model", None)
        if self.text_learning_rate is None or text_model is None or getattr(self, "_text_lr_applied", False):
            return optimizer
        text_ids = {id(p) for p in text_model.parameters()}
        groups = []
        for group in optimizer.param_groups:
            for is_text in (False, True):
                params = [p for p in group["params"] if (id(p) in text_ids) == is_text]
                if params:
                    extra = {"lr": self.text_learning_rate} if is_text else {}
                    groups.append({**{k: v for k, v in group.items() if k != "params"}, **extra, "params": params})
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        self._text_lr_applied = True
        return optimizer

    def _save(self, output_dir: str | None = None, state_dict=None):
        super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        pickled = os.path.join(output_dir, "training_args.bin")
        if self.args.should_save and os.path.exists(pickled):
            os.remove(pickled)
            with open(os.path.join(output_dir, "training_args.json"), "w", encoding="utf-8") as fh:
                fh.write(self.args.to_json_string())


class _CollatorEpoch(TrainerCallback):
    """Tells the collator which epoch starts, so that each epoch draws new corruptions (a resumed
    run lands in the epoch of its checkpoint)."""

    def __init__(self, collator: Any):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.set_epoch(math.floor((state.epoch or 0.0) + 1e-9))


class FlipPretrainingTrainer(FlipTrainer):
    """`Trainer` that also logs ``mlm_loss``, ``mtm_loss`` and ``icl_loss`` (means since the last log)."""

    _PARTS = ("mlm_loss", "mtm_loss", "icl_loss")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._part_sums = {k: 0.0 for k in self._PARTS}
        self._part_count = 0
        if hasattr(self.data_collator, "set_epoch"):
            self.add_callback(_CollatorEpoch(self.data_collator))

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


__all__ = ["FlipTrainer", "FlipPretrainingTrainer"]
