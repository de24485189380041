"""P5's inputs (paper Table II, Section V-A3): the row's user and item sentences placed into a question
template, e.g. ``"User: user id is 1. gender is female. ... Item: movie id is 3. ... Will the user click on
the item?"``; the answer is the word "yes" or "no".

Encoded rows hold the two sides' tokens without the template (``user_input_ids``, ``item_input_ids``)
and the row's ``feature_ids``; the collator puts them into a template. Every batch carries the
evaluation template (``input_ids``, ``attention_mask``); for training it also carries a template drawn
per row from (seed, epoch, feature ids) (``sampled_input_ids``, ``sampled_attention_mask``), so a row's
template does not depend on its batch. `P5ForCTR` reads the drawn one in training mode only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..tokenization.collator import row_keys, uniforms
from ..tokenization.tokenization_flip import FlipTabularTokenizer
from .configuration import P5_TEMPLATES, TEMPLATE_SLOT, check_templates
from .processing import BaselineProcessor, labels_tensor, pad_sequences

TEMPLATE_STREAM = 5
"""Stream of `flip_hf.tokenization.collator.uniforms` for the template draws (the pretraining collator uses 1-4)."""


def answer_token_ids(text_tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The token id of each answer word; ValueError when a word is not exactly one token."""
    ids = []
    for word in words:
        tokens = text_tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            pieces = text_tokenizer.convert_ids_to_tokens(tokens)
            raise ValueError(
                f"P5 scores its answers from one decoder step: the answer word {word!r} must be a single token of "
                f"the text tokenizer ({type(text_tokenizer).__name__}), but it is {pieces}. Choose other answer_words."
            )
        ids.append(int(tokens[0]))
    return ids


class P5Processor(BaselineProcessor):
    """Encodes rows for `P5ForCTR` and builds its collator.

    Args:
        tokenizer (`FlipTabularTokenizer`): fitted on the training split; its text tokenizer is the
            encoder-decoder's.
        user_fields (`Sequence[str]`), item_fields (`Sequence[str]`, *optional*): the two sides.
        templates (`Sequence[str]`, *optional*, defaults to `P5_TEMPLATES`): question templates with
            ``{user}`` and ``{item}``.
        eval_template (`int`, *optional*, defaults to 0): the template of evaluation and prediction.

    A model input (template, both sides and special tokens) holds at most the tokenizer's
    ``max_length`` tokens. When the two sides do not fit in the room the template leaves, each side
    keeps at least half of that room (all of itself if shorter) and the longer side is cut at its end.
    """

    kind = "p5"

    def __init__(
        self,
        tokenizer: FlipTabularTokenizer,
        user_fields: Sequence[str],
        item_fields: Sequence[str] | None = None,
        templates: Sequence[str] | None = None,
        eval_template: int = 0,
    ):
        super().__init__(tokenizer, user_fields, item_fields)
        self.templates = list(P5_TEMPLATES if templates is None else templates)
        self.eval_template = int(eval_template)
        check_templates(self.templates, self.eval_template)
        self._prefix, self._suffix = self.user_encoder.prefix_ids, self.user_encoder.suffix_ids
        self._pieces = [self._tokenize_template(t) for t in self.templates]
        for template, pieces in zip(self.templates, self._pieces):
            if self._room(pieces) < 2:
                raise ValueError(
                    f"max_length={self.max_length} leaves no room for the row's text in P5 template {template!r}."
                )

    @classmethod
    def from_config(cls, tokenizer: FlipTabularTokenizer, config: Any) -> P5Processor:
        config.check_tokenizer(tokenizer)
        answers = answer_token_ids(tokenizer.text_tokenizer, config.answer_words)
        if answers != [config.yes_token_id, config.no_token_id]:
            raise ValueError(
                f"Tokenizer/model mismatch: the text tokenizer reads the answer words {config.answer_words} as "
                f"{answers}, the model as {[config.yes_token_id, config.no_token_id]}."
            )
        return cls(tokenizer, config.user_fields, config.item_fields, config.templates, config.eval_template)

    def _tokenize_template(self, template: str) -> list[list[int] | str]:
        """The template as token-id pieces and the slot names ``"user"`` / ``"item"``, in order."""
        text_tokenizer = self.tokenizer.text_tokenizer
        pieces: list[list[int] | str] = []
        for i, part in enumerate(TEMPLATE_SLOT.split(template)):
            if i % 2:
                pieces.append(part)
            elif part.strip():
                pieces.append(text_tokenizer(part.strip(), add_special_tokens=False)["input_ids"])
        return pieces

    def _room(self, pieces: list[list[int] | str]) -> int:
        """Tokens left for the two sides once the template and special tokens are placed."""
        fixed = sum(len(p) for p in pieces if not isinstance(p, str))
        return self.max_length - len(self._prefix) - len(self._suffix) - fixed

    def template_input_ids(self, user_ids: Sequence[int], item_ids: Sequence[int], template: int) -> list[int]:
        """The model input of one row in template number ``template``, special tokens included."""
        pieces = self._pieces[template]
        room = self._room(pieces)
        n_user, n_item = len(user_ids), len(item_ids)
        if n_user + n_item > room:
            n_user = min(n_user, max(room - n_item, room // 2))
            n_item = room - n_user
        sides = {"user": list(user_ids[:n_user]), "item": list(item_ids[:n_item])}
        ids = list(self._prefix)
        for piece in pieces:
            ids += sides[piece] if isinstance(piece, str) else piece
        return ids + list(self._suffix)

    def template_text(self, row: Any, template: int | None = None) -> str:
        """The input text of one row (a dict) in a template (default: the evaluation template)."""
        (user,), (item,) = self.side_texts([dict(row)])
        sides = {"user": self.user_encoder.prompt(user), "item": self.item_encoder.prompt(item)}
        chosen = self.templates[self.eval_template if template is None else template]
        return TEMPLATE_SLOT.sub(lambda match: sides[match.group(1)], chosen)

    def encode_sides(self, rows: Any) -> dict[str, list]:
        user_texts, item_texts = self.side_texts(rows)
        user_ids, _ = self.user_encoder.encode(user_texts, add_special_tokens=False)
        item_ids, _ = self.item_encoder.encode(item_texts, add_special_tokens=False)
        limit = self.max_length
        return {
            "user_input_ids": [x[:limit] for x in user_ids],
            "item_input_ids": [x[:limit] for x in item_ids],
            "feature_ids": self.tokenizer.encode_features(rows).tolist(),
        }

    def data_collator(self, seed: int = 0, training: bool = True) -> DataCollatorForP5:
        """A `DataCollatorForP5`; ``training=False`` leaves out the drawn templates (prediction)."""
        return DataCollatorForP5(self, seed=seed, sample_templates=training)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "templates": self.templates, "eval_template": self.eval_template}


@dataclass
class DataCollatorForP5:
    """Puts encoded rows into P5's templates and pads them; ``label`` becomes float ``labels``.

    Output: ``input_ids`` / ``attention_mask`` in the evaluation template and, with
    ``sample_templates`` and more than one template, ``sampled_input_ids`` / ``sampled_attention_mask``
    in a template drawn per row from (``seed``, epoch, the row's feature ids). Call `set_epoch` at each
    epoch so that every epoch draws anew.
    """

    processor: P5Processor
    seed: int = 0
    sample_templates: bool = True
    epoch: int = field(default=0, init=False)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def template_choice(self, feature_ids: torch.Tensor) -> np.ndarray:
        """The template index drawn for each row (B,)."""
        n = len(self.processor.templates)
        draws = uniforms(row_keys(feature_ids, self.seed, self.epoch), TEMPLATE_STREAM, 1)[:, 0]
        return np.minimum((draws * n).astype(np.int64), n - 1)

    def _pad(self, rows: list[list[int]], prefix: str) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}input_ids": pad_sequences(rows, self.processor.pad_token_id),
            f"{prefix}attention_mask": pad_sequences([[1] * len(r) for r in rows], 0),
        }

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        build = self.processor.template_input_ids
        sides = [(f["user_input_ids"], f["item_input_ids"]) for f in features]
        batch = self._pad([build(u, i, self.processor.eval_template) for u, i in sides], "")
        if self.sample_templates and len(self.processor.templates) > 1:
            feature_ids = torch.tensor([f["feature_ids"] for f in features], dtype=torch.long)
            chosen = self.template_choice(feature_ids)
            batch.update(self._pad([build(u, i, int(t)) for (u, i), t in zip(sides, chosen)], "sampled_"))
        labels = labels_tensor(features)
        if labels is not None:
            batch["labels"] = labels
        return batch


__all__ = ["DataCollatorForP5", "P5Processor", "TEMPLATE_STREAM", "answer_token_ids"]
