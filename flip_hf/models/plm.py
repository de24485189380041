"""The pretrained language model (PLM) side: where the default checkpoint lives, loading any local
HF encoder offline, cutting its depth for CPU runs, and pooling its states into the row vector
the paper calls ``w_1`` (paper Section IV-B: the [CLS] state)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel

from ..packaged_plm import default_plm_path

TEXT_POOLINGS = ("cls", "mean")


def strip_pooler(text_model: nn.Module) -> nn.Module:
    """Drop an encoder's pooler: FLIP reads token states only, and an unused pooler breaks DDP."""
    if getattr(text_model, "pooler", None) is not None:
        text_model.pooler = None
    return text_model


def local_checkpoint(plm_path: str | os.PathLike | None = None) -> str:
    """The folder of a local text-model checkpoint (default: the packaged MiniLM). Nothing is
    downloaded: a path that is not a local folder raises FileNotFoundError."""
    path = str(plm_path or default_plm_path())
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"Text model {path!r} is not a local folder (no downloads here): pass a local HF checkpoint."
        )
    return path


def load_text_encoder(plm_path: str | os.PathLike | None = None, **kwargs: Any) -> PreTrainedModel:
    """Any local HF text encoder (default: the packaged MiniLM) as an fp32 `AutoModel` without pooler."""
    path = local_checkpoint(plm_path)
    kwargs.setdefault("dtype", torch.float32)  # train in fp32 (bf16 through autocast), even from a bf16 copy
    return strip_pooler(AutoModel.from_pretrained(path, **kwargs))


def truncate_layers(text_model: nn.Module, num_layers: int) -> None:
    """Keep only the first ``num_layers`` transformer layers (encoders with ``encoder.layer``:
    BERT, RoBERTa, MiniLM, ...); the encoder's config follows."""
    layers = getattr(getattr(text_model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"Cannot truncate {type(text_model).__name__}: no encoder.layer list.")
    if not 1 <= num_layers <= len(layers):
        raise ValueError(f"num_layers must be in [1, {len(layers)}], got {num_layers}.")
    text_model.encoder.layer = layers[:num_layers]
    text_model.config.num_hidden_layers = num_layers


def pool_text(states: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str = "cls") -> torch.Tensor:
    """The row vector of last-layer states (B, L, D) -> (B, D).

    ``"cls"``: the first token's state, the paper's ``w_1``; ``"mean"``: the mean over real
    (non-padding) tokens, the pooling sentence encoders such as all-MiniLM-L6-v2 were trained with.
    """
    if pooling == "cls":
        return states[:, 0]
    if pooling == "mean":
        if attention_mask is None:
            return states.mean(1)
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    raise ValueError(f"text pooling must be one of {TEXT_POOLINGS}, got {pooling!r}.")


__all__ = [
    "TEXT_POOLINGS",
    "load_text_encoder",
    "local_checkpoint",
    "pool_text",
    "strip_pooler",
    "truncate_layers",
]
