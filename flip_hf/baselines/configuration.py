"""Configurations of the PLM-based baselines of paper Table II (Section V-A3 "Baselines"): `CTRBertConfig`
(two text towers, user and item) and `P5Config` (CTR prediction as yes/no generation)."""

from __future__ import annotations

import re
from typing import Any

from transformers import AutoConfig, PretrainedConfig

from ..data import check_field_sides
from ..models.plm import TEXT_POOLINGS

try:  # transformers >= 5.2x: explicit sub-config spec
    from transformers.configuration_utils import SubConfigSpec

    def _text_spec(model_type: str) -> Any:
        return SubConfigSpec(config_class=AutoConfig, model_type=model_type, optional=True)

except ImportError:  # pragma: no cover - older 5.x

    def _text_spec(model_type: str) -> Any:
        return AutoConfig


P5_TEMPLATES = [
    "User: {user} Item: {item} Will the user click on the item?",
    "Shall we recommend this item to this user? User: {user} Item: {item}",
    "Here is a user. {user} Here is an item. {item} Is the item a good recommendation for the user?",
]
"""P5's question templates: ``{user}`` and ``{item}`` are replaced by the user's and the item's
"<field> is <value>." sentences. Training draws one per row and epoch; evaluation uses
``eval_template`` (the first by default)."""

P5_ANSWER_WORDS = ["yes", "no"]
"""P5's target words: click, no click."""

TEMPLATE_SLOTS = ("user", "item")
TEMPLATE_SLOT = re.compile(r"\{(user|item)\}")
"""A slot of a P5 template."""


def check_templates(templates: list[str], eval_template: int) -> None:
    """Raise ValueError unless every template holds ``{user}`` and ``{item}`` once each, with
    whitespace (or the template's ends) around them, and ``eval_template`` indexes one of them."""
    if not templates:
        raise ValueError("P5 needs at least one template.")
    for template in templates:
        slots = TEMPLATE_SLOT.findall(template)
        if sorted(slots) != sorted(TEMPLATE_SLOTS):
            raise ValueError(f"P5 template {template!r} must hold {{user}} and {{item}} once each.")
        for match in TEMPLATE_SLOT.finditer(template):
            before, after = template[match.start() - 1 : match.start()], template[match.end() : match.end() + 1]
            if before.strip() or after.strip():
                raise ValueError(f"P5 template {template!r}: put whitespace around {match.group(0)}.")
    if not 0 <= eval_template < len(templates):
        raise ValueError(f"eval_template must index one of the {len(templates)} templates, got {eval_template}.")


class BaselineConfig(PretrainedConfig):
    r"""What the PLM baselines share: the table's fields, which of them describe the user and which
    the item, and the text model's config.

    Args:
        field_names (`list[str]`): the table's fields, as the `FlipTabularTokenizer` has them.
        user_fields (`list[str]`): the user's fields; item_fields (`list[str]`): the item's. Both
            in table order; every field is on exactly one side.
        text_config (`PretrainedConfig` or `dict`): config of the pretrained text model.
        initializer_range (`float`, 0.02): std of the new layers' normal init.
    """

    field_names: list[str] | None = None
    user_fields: list[str] | None = None
    item_fields: list[str] | None = None
    text_config: PretrainedConfig | dict | None = None
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs: Any):
        if self.field_names is not None:
            self.field_names = [str(f) for f in self.field_names]
            if self.user_fields is None:
                raise ValueError(f"{type(self).__name__} needs user_fields (the user's fields of {self.field_names}).")
            self.user_fields, self.item_fields = check_field_sides(self.field_names, self.user_fields, self.item_fields)
        super().__post_init__(**kwargs)

    def check_tokenizer(self, tokenizer: Any) -> None:
        """Raise ValueError when a `FlipTabularTokenizer` was fitted on another table, or its text
        tokenizer has more tokens than the text model's vocabulary."""
        if list(tokenizer.field_names) != list(self.field_names or []):
            raise ValueError(
                f"Tokenizer/model mismatch: the tokenizer's fields are {list(tokenizer.field_names)}, "
                f"the model's are {self.field_names}."
            )
        vocab = getattr(self.text_config, "vocab_size", None)
        if vocab is not None and len(tokenizer.text_tokenizer) > vocab:
            raise ValueError(
                f"Tokenizer/model mismatch: the text tokenizer has {len(tokenizer.text_tokenizer)} tokens, "
                f"the text model's vocabulary {vocab}."
            )


class CTRBertConfig(BaselineConfig):
    r"""Configuration of `CTRBertForCTR`, the two-tower CTR-BERT baseline (paper Table II, Section V-A3).

    Args:
        share_towers (`bool`, False): one encoder reads both texts (default: two encoders, both
            initialised from the same checkpoint).
        fusion_hidden_sizes (`list[int]`, [256]): hidden sizes of the late-fusion MLP over
            ``[u; i; u * i]`` (the two towers' text vectors and their element-wise product).
        fusion_dropout (`float`, 0.0): dropout after each hidden layer of that MLP.
        text_pooling (`str`, `"cls"`): a tower's text vector, the [CLS] state (`"cls"`) or the mean
            over real tokens (`"mean"`).
        Plus the fields of `BaselineConfig`; ``text_config`` is an encoder's (BERT-style).
    """

    model_type = "flip_ctr_bert"
    sub_configs_defaults = {"text_config": _text_spec("bert")}

    share_towers: bool = False
    fusion_hidden_sizes: list[int] | None = None
    fusion_dropout: float = 0.0
    text_pooling: str = "cls"

    def __post_init__(self, **kwargs: Any):
        if self.fusion_hidden_sizes is None:
            self.fusion_hidden_sizes = [256]
        self.fusion_hidden_sizes = [int(h) for h in self.fusion_hidden_sizes]
        if self.text_pooling not in TEXT_POOLINGS:
            raise ValueError(f"text_pooling must be one of {TEXT_POOLINGS}, got {self.text_pooling!r}.")
        if not 0.0 <= self.fusion_dropout < 1.0:
            raise ValueError(f"fusion_dropout must be in [0, 1), got {self.fusion_dropout}.")
        super().__post_init__(**kwargs)


class P5Config(BaselineConfig):
    r"""Configuration of `P5ForCTR`: CTR prediction as text generation with an encoder-decoder
    (the P5 baseline of paper Table II, Section V-A3, single task with several templates).

    Args:
        templates (`list[str]`, `P5_TEMPLATES`): the question templates, with ``{user}`` and ``{item}``.
        eval_template (`int`, 0): the template every evaluation and prediction uses.
        answer_words (`list[str]`, ["yes", "no"]): the target words for click and no click; each
            must be one token of the text tokenizer.
        yes_token_id / no_token_id (`int`): their token ids (set by `P5ForCTR.from_text_pretrained`).
        Plus the fields of `BaselineConfig`; ``text_config`` is an encoder-decoder's (T5 family).
    """

    model_type = "flip_p5"
    sub_configs_defaults = {"text_config": _text_spec("t5")}

    templates: list[str] | None = None
    eval_template: int = 0
    answer_words: list[str] | None = None
    yes_token_id: int | None = None
    no_token_id: int | None = None

    def __post_init__(self, **kwargs: Any):
        if self.templates is None:
            self.templates = list(P5_TEMPLATES)
        if self.answer_words is None:
            self.answer_words = list(P5_ANSWER_WORDS)
        self.templates = [str(t) for t in self.templates]
        check_templates(self.templates, self.eval_template)
        if len(self.answer_words) != 2 or self.answer_words[0] == self.answer_words[1]:
            raise ValueError(f"answer_words must be two different words (click, no click), got {self.answer_words}.")
        super().__post_init__(**kwargs)


__all__ = [
    "BaselineConfig",
    "CTRBertConfig",
    "P5Config",
    "P5_ANSWER_WORDS",
    "P5_TEMPLATES",
    "TEMPLATE_SLOT",
    "TEMPLATE_SLOTS",
    "check_templates",
]
