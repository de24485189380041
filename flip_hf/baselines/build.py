"""Building, loading and registering the PLM baselines of paper Table II (Section V-A3): CTR-BERT
(``"ctr_bert"``) and P5 (``"p5"``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..models.auto_classes import register_auto_model
from ..tokenization.tokenization_flip import FlipTabularTokenizer
from .configuration import CTRBertConfig, P5Config
from .modeling_base import BaselinePreTrainedModel
from .modeling_ctr_bert import CTRBertForCTR
from .modeling_p5 import P5ForCTR
from .processing import BaselineProcessor
from .processing_ctr_bert import CTRBertProcessor
from .processing_p5 import P5Processor


class Baseline(NamedTuple):
    """One PLM baseline: its key, its name in tables, model and processor classes, and the kind of text model."""

    kind: str
    name: str
    model_class: type[BaselinePreTrainedModel]
    processor_class: type[BaselineProcessor]
    plm_kind: str


BASELINES: dict[str, Baseline] = {
    "ctr_bert": Baseline("ctr_bert", "CTR-BERT", CTRBertForCTR, CTRBertProcessor, "encoder"),
    "p5": Baseline("p5", "P5", P5ForCTR, P5Processor, "encoder-decoder"),
}
"""The PLM baselines by kind."""


def get_baseline(kind: str) -> Baseline:
    key = str(kind).strip().lower().replace("-", "_")
    if key not in BASELINES:
        raise ValueError(f"Unknown baseline {kind!r}; baselines: {', '.join(BASELINES)}.")
    return BASELINES[key]


def build_baseline(
    kind: str,
    tokenizer: FlipTabularTokenizer,
    plm: str | os.PathLike | None,
    user_fields: Sequence[str],
    item_fields: Sequence[str] | None = None,
    num_text_layers: int | None = None,
    **config_overrides: Any,
) -> tuple[BaselinePreTrainedModel, BaselineProcessor]:
    """A PLM baseline around a local text model, and the processor of its inputs.

    Args:
        kind (`str`): `"ctr_bert"` or `"p5"`.
        tokenizer (`FlipTabularTokenizer`): fitted on the training split. For P5 its text tokenizer must be
            the encoder-decoder's (`flip_hf.baselines.load_text_tokenizer(plm)`).
        plm (`str`, *optional*): a local checkpoint: an encoder for CTR-BERT (default: the packaged MiniLM),
            an encoder-decoder (T5 family) for P5 (no default ships).
        user_fields (`Sequence[str]`), item_fields (`Sequence[str]`, *optional*): the user/item split
            (`flip_hf.data.field_sides`); the item side defaults to the other fields.
        num_text_layers (`int`, *optional*): keep the first N layers of each tower (CTR-BERT) or of the
            encoder and the decoder (P5).
        config_overrides: fields of `CTRBertConfig` / `P5Config`.

    Encode splits with ``processor.encode_dataset(ds)``, train with a `FlipTrainer` and
    ``processor.data_collator(seed)`` (or `flip_hf.baselines.train_baseline`), evaluate with
    `flip_hf.metrics.compute_ctr_metrics`.
    """
    model = get_baseline(kind).model_class.from_text_pretrained(
        plm, tokenizer=tokenizer, user_fields=user_fields, item_fields=item_fields, **config_overrides
    )
    if num_text_layers:
        model.truncate_text_layers(num_text_layers)
    return model, model.build_processor(tokenizer)


def load_baseline(path: str | os.PathLike, **kwargs: Any) -> tuple[BaselinePreTrainedModel, BaselineProcessor]:
    """The model and the processor (with its tokenizer) of a saved baseline folder."""
    kind = BaselineProcessor.read_state(path)["kind"]
    baseline = get_baseline(kind)
    return baseline.model_class.from_pretrained(path, **kwargs), baseline.processor_class.from_pretrained(path)


def register_auto_classes() -> None:
    """Register the baselines with ``AutoConfig`` and ``AutoModel``."""
    for config_class, model_class in ((CTRBertConfig, CTRBertForCTR), (P5Config, P5ForCTR)):
        register_auto_model(config_class, model_class)


__all__ = ["BASELINES", "Baseline", "build_baseline", "get_baseline", "load_baseline", "register_auto_classes"]
