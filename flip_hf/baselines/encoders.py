"""The baselines' pretrained text models, loaded offline from local checkpoints: an encoder
(BERT-style) for CTR-BERT, an encoder-decoder (T5 family) for P5; their tokenizers; and cutting an
encoder-decoder's depth for CPU runs (paper Table II, Section V-A3)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel

from ..models.plm import load_text_encoder, local_checkpoint
from ..packaged_plm import default_plm_path

KINDS = ("encoder", "encoder-decoder")


def check_checkpoint_kind(plm_path: str | os.PathLike | None, kind: str, baseline: str) -> str:
    """The local folder of ``plm_path`` (default: the packaged MiniLM) after checking that it holds a
    text model of ``kind`` (`"encoder"` or `"encoder-decoder"`); ValueError naming both otherwise."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    path = local_checkpoint(plm_path)
    config = AutoConfig.from_pretrained(path)
    found = "encoder-decoder" if getattr(config, "is_encoder_decoder", False) else "encoder"
    if found != kind:
        example = "a BERT-style encoder" if kind == "encoder" else "a T5-family checkpoint"
        raise ValueError(
            f"{baseline} needs an {kind} text model ({example}), but {path} holds an {found} "
            f"({config.model_type}): pass another checkpoint with --plm."
        )
    return path


def load_encoder(plm_path: str | os.PathLike | None = None, baseline: str = "CTR-BERT") -> PreTrainedModel:
    """A local encoder (default: the packaged MiniLM) as `flip_hf.models.plm.load_text_encoder` loads it."""
    return load_text_encoder(check_checkpoint_kind(plm_path, "encoder", baseline))


def load_encoder_decoder(plm_path: str | os.PathLike | None = None, baseline: str = "P5") -> PreTrainedModel:
    """A local encoder-decoder with its language-model head (`AutoModelForSeq2SeqLM`), in fp32."""
    path = check_checkpoint_kind(plm_path, "encoder-decoder", baseline)
    return AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32)


def load_text_tokenizer(plm_path: str | os.PathLike | None = None) -> Any:
    """The text tokenizer of a local checkpoint, ready for a `FlipTabularTokenizer`, which asks for a
    mask token: a tokenizer without one (T5's) gets its first sentinel token (``<extra_id_0>``, T5's
    own mask of span corruption) as mask token; its vocabulary does not change."""
    tokenizer = AutoTokenizer.from_pretrained(str(plm_path or default_plm_path()))
    if tokenizer.mask_token_id is None:
        sentinels = [t for t in tokenizer.all_special_tokens if t.startswith("<extra_id_")]
        if not sentinels:
            raise ValueError(f"The tokenizer of {plm_path} has neither a mask token nor T5 sentinel tokens.")
        size = len(tokenizer)
        tokenizer.mask_token = sorted(sentinels, key=lambda t: int(t[len("<extra_id_") : -1]))[0]
        assert len(tokenizer) == size, "the mask token must be an existing token"
    return tokenizer


def truncate_encoder_decoder(model: PreTrainedModel, num_layers: int) -> None:
    """Keep the first ``num_layers`` blocks of both the encoder and the decoder of a T5-family model
    (stacks with a ``block`` list; the first block holds the relative position bias). The configs follow."""
    stacks = [getattr(model, name, None) for name in ("encoder", "decoder")]
    if not all(isinstance(getattr(s, "block", None), nn.ModuleList) for s in stacks):
        raise ValueError(f"Cannot cut {type(model).__name__}: no encoder.block / decoder.block lists (T5 family).")
    for stack in stacks:
        if not 1 <= num_layers <= len(stack.block):
            raise ValueError(f"num_layers must be in [1, {len(stack.block)}], got {num_layers}.")
    for stack in stacks:
        stack.block = stack.block[:num_layers]
        stack.config.num_layers = num_layers
    model.config.num_layers = model.config.num_decoder_layers = num_layers


__all__ = [
    "KINDS",
    "check_checkpoint_kind",
    "load_encoder",
    "load_encoder_decoder",
    "load_text_tokenizer",
    "truncate_encoder_decoder",
]
