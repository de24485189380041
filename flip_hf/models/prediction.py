"""The one prediction loop of the models' ``predict_proba``: raw rows already turned into model
inputs batch by batch, click probabilities out (paper Eq. 17's σ of the logit)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from ..metrics import click_probabilities


def predict_in_batches(
    model: nn.Module, num_rows: int, batch_inputs: Callable[[int, int], Mapping[str, torch.Tensor]], batch_size: int
) -> torch.Tensor:
    """Click probabilities (N,) of ``num_rows`` rows; ``batch_inputs(start, end)`` gives the model
    inputs of rows ``start:end``. The model runs in eval mode without gradients on its own device and
    gets its mode back afterwards, also after an error; ValueError when no rows are given or when a
    probability is not finite (weights holding NaN or infinity)."""
    if num_rows == 0:
        raise ValueError("predict_proba got no rows.")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        with torch.no_grad():
            for start in range(0, num_rows, batch_size):
                inputs = batch_inputs(start, min(start + batch_size, num_rows))
                out.append(click_probabilities(model(**{k: v.to(device) for k, v in inputs.items()}).logits))
    finally:
        model.train(was_training)
    probs = torch.cat(out)
    bad = (~torch.isfinite(probs)).nonzero().flatten()
    if len(bad):
        raise ValueError(
            f"The model gave non-finite probabilities for {len(bad)} row(s) (first: row {int(bad[0])}): "
            "its weights hold NaN or infinity."
        )
    return probs


__all__ = ["predict_in_batches"]
