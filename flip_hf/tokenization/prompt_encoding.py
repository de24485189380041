"""`PromptEncoder`: FLIP's text view of a table row, tokenized, with every token aligned to its field.

FLIP reads a row through a hard template (paper Section III-A): field f becomes the sentence
``"<field> is <value>."`` and the prompt is the row's sentences joined by one space, e.g.
``"occupation is writer. gender is female."``. Field-level masking and the fine-grained alignment of
the two views need, for every token, the field whose VALUE the token spells: ``token_field_ids``
holds that field's index, or -1 for the template ("<field> is", "."), special and padding tokens.

Encoding is piecewise: each distinct (field, value) sentence is tokenized once and cached, and a
row is the concatenation of its cached sentences. Before relying on it, the encoder checks that
this equals tokenizing the whole prompt: the text tokenizer's pre-tokenizer must cut between two
sentences, and both encodings must agree on sample rows of the first batch (true for WordPiece,
byte-level BPE and SentencePiece tokenizers that split on whitespace). Where they differ, it
tokenizes whole prompts and finds the value tokens from their offset mappings instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

SENTENCE_CACHE_SIZE = 2_000_000
"""At most this many tokenized field sentences are cached (a few hundred MB at most)."""

_SAMPLE_ROWS = 8
_PROBE_VALUES = ("a", "Z", "7", ")", "'", "-", "x.", "a b")


def _mark_value_tokens(text: str, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """Index into ``spans`` (sorted value spans of ``text``) of the value each token belongs to, or -1.

    A token belongs to a value when it covers one of the value's characters. Whitespace at the
    ends of a token's offsets is ignored: byte-level BPE without ``trim_offsets`` ("Ġvalue") and
    SentencePiece/Metaspace ("▁value") report the space before a word as part of the word's token.
    A whitespace-only token ("▁", or "Ġ" with empty trimmed offsets) belongs to a value only when
    it lies inside it (between words).
    """
    marks, f, n = [], 0, len(spans)
    for raw_s, raw_e in offsets:
        s, e = raw_s, raw_e
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if raw_s >= raw_e:  # special token, or a "Ġ" whose trimmed offsets are empty at the next word
            while f < n and spans[f][1] <= raw_s:
                f += 1
            marks.append(f if f < n and spans[f][0] < raw_s < spans[f][1] else -1)
            continue
        if s >= e:  # whitespace-only token: inside a value, or template
            while f < n and spans[f][1] <= raw_s:
                f += 1
            marks.append(f if f < n and spans[f][0] <= raw_s and raw_e <= spans[f][1] else -1)
            continue
        while f < n and spans[f][1] <= s:
            f += 1
        marks.append(f if f < n and spans[f][0] < e else -1)
    return marks


class PromptEncoder:
    """Tokenizes rows, given as value texts, into FLIP's hard-template prompt and its ``token_field_ids``.

    Rows come as ``texts_by_row``: one list per row holding the text of every field's value, in
    field order, as the text view shows it (a missing value already replaced by "unknown"). The encoder
    neither looks values up nor pads: `FlipTabularTokenizer` does both around it.

    Args:
        field_names (`Sequence[str]`):
            The fields, in prompt order.
        text_tokenizer (`PreTrainedTokenizerBase`):
            A fast (Rust) HF tokenizer: its offset mappings locate the value tokens.

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> from flip_hf import default_plm_path
    >>> from flip_hf.tokenization.prompt_encoding import PromptEncoder

    >>> encoder = PromptEncoder(["occupation", "gender"], AutoTokenizer.from_pretrained(default_plm_path()))
    >>> encoder.prompt(["writer", "female"])
    'occupation is writer. gender is female.'
    >>> input_ids, token_field_ids = encoder.encode([["writer", "female"]])
    >>> token_field_ids[0]  # [CLS] occupation is writer . gender is female . [SEP]
    [-1, -1, -1, 0, -1, -1, -1, 1, -1, -1]
    ```
    """

    def __init__(self, field_names: Sequence[str], text_tokenizer: PreTrainedTokenizerBase):
        if not getattr(text_tokenizer, "is_fast", False):
            raise TypeError("The text tokenizer must be a fast (Rust) HF tokenizer: FLIP needs its offset mappings.")
        self.field_names = [str(f) for f in field_names]
        self.text_tokenizer = text_tokenizer
        self._prefix_ids, self._suffix_ids = self._special_token_frame()
        self._sentence_cache: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
        self._piecewise: bool | None = None

    # ------------------------------------------------------------------ properties
    @property
    def prefix_ids(self) -> list[int]:
        """Special tokens the text tokenizer puts before a single sequence (e.g. ``[CLS]``)."""
        return list(self._prefix_ids)

    @property
    def suffix_ids(self) -> list[int]:
        """Special tokens the text tokenizer puts after a single sequence (e.g. ``[SEP]``)."""
        return list(self._suffix_ids)

    @property
    def piecewise(self) -> bool | None:
        """Whether rows are encoded piecewise from cached field sentences (`True`) or as whole
        prompts with offset mappings (`False`); `None` until the first batch decides."""
        return self._piecewise

    # ------------------------------------------------------------------ template
    def sentence(self, field: int, value: str) -> str:
        """The sentence ``"<field> is <value>."`` of field index ``field``."""
        return f"{self.field_names[field]} is {value}."

    def prompt(self, texts: Sequence[str]) -> str:
        """The prompt of one row given its value texts: the field sentences joined by a space."""
        return " ".join(self.sentence(f, value) for f, value in enumerate(texts))

    # ------------------------------------------------------------------ encoding
    def encode(
        self, texts_by_row: Sequence[Sequence[str]], add_special_tokens: bool = True, max_length: int | None = None
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids and ``token_field_ids`` of every row (lists of per-row lists, not padded).

        Args:
            texts_by_row (`Sequence[Sequence[str]]`):
                Per row, the value text of every field, in field order.
            add_special_tokens (`bool`, *optional*, defaults to `True`):
                Frame each row with the text tokenizer's special tokens (marked -1).
            max_length (`int`, *optional*):
                Truncate each row's prompt tokens so that the row, special tokens included, has at
                most ``max_length`` tokens; no truncation when `None`.
        """
        if self._piecewise is None:
            self._piecewise = self._piecewise_is_exact(texts_by_row)
        encode_body = self.encode_piecewise if self._piecewise else self.encode_whole
        ids, marks = encode_body(texts_by_row)
        pre, post = (self._prefix_ids, self._suffix_ids) if add_special_tokens else ([], [])
        if max_length is not None:
            limit = max_length - len(pre) - len(post)
            if limit <= 0:
                raise ValueError(f"max_length={max_length} leaves no room for text tokens.")
            ids, marks = [x[:limit] for x in ids], [m[:limit] for m in marks]
        if pre or post:
            ids = [pre + x + post for x in ids]
            marks = [[-1] * len(pre) + m + [-1] * len(post) for m in marks]
        return ids, marks

    def encode_piecewise(self, texts_by_row: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[int]]]:
        """Prompt tokens (no special tokens) as the concatenation of cached field-sentence encodings.

        Exact only where `piecewise` is `True`; `encode` picks this path itself.
        """
        all_ids, all_marks = [], []
        for texts in texts_by_row:
            ids: list[int] = []
            marks: list[int] = []
            for f, value in enumerate(texts):
                s_ids, s_marks = self._encode_sentence(f, value)
                ids += s_ids
                marks += s_marks
            all_ids.append(ids)
            all_marks.append(marks)
        return all_ids, all_marks

    def encode_whole(self, texts_by_row: Sequence[Sequence[str]]) -> tuple[list[list[int]], list[list[int]]]:
        """Reference path: tokenize whole prompts (no special tokens), find value tokens from offsets."""
        prompts, spans = [], []
        for texts in texts_by_row:
            parts, row_spans, pos = [], [], 0
            for f, value in enumerate(texts):
                if f:
                    parts.append(" ")
                    pos += 1
                head = f"{self.field_names[f]} is "
                row_spans.append((pos + len(head), pos + len(head) + len(value)))
                sentence = self.sentence(f, value)
                parts.append(sentence)
                pos += len(sentence)
            prompts.append("".join(parts))
            spans.append(row_spans)
        enc = self.text_tokenizer(prompts, add_special_tokens=False, return_offsets_mapping=True)
        marks = [
            _mark_value_tokens(prompt, offsets, row_spans)
            for offsets, prompt, row_spans in zip(enc["offset_mapping"], prompts, spans)
        ]
        return list(enc["input_ids"]), marks

    # ------------------------------------------------------------------ internals
    def _special_token_frame(self) -> tuple[list[int], list[int]]:
        """Special tokens the text tokenizer puts before and after a single sequence."""
        tok = self.text_tokenizer
        plain = tok("field", add_special_tokens=False)["input_ids"]
        full = tok("field", add_special_tokens=True)["input_ids"]
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return full[:start], full[start + len(plain) :]
        raise ValueError("Cannot locate the special tokens of the text tokenizer.")

    def _encode_sentence(self, f: int, value: str) -> tuple[list[int], list[int]]:
        """Token ids of one field sentence and, per token, f (value token) or -1 (template)."""
        key = (f, value)
        hit = self._sentence_cache.get(key)
        if hit is not None:
            return hit
        lead = "" if f == 0 else " "
        text = lead + self.sentence(f, value)
        enc = self.text_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        start = len(lead) + len(self.field_names[f]) + len(" is ")
        marks = [
            f if m == 0 else -1 for m in _mark_value_tokens(text, enc["offset_mapping"], [(start, start + len(value))])
        ]
        hit = (enc["input_ids"], marks)
        if len(self._sentence_cache) < SENTENCE_CACHE_SIZE:
            self._sentence_cache[key] = hit
        return hit

    def _pre_tokenizer_cuts_sentences(self) -> bool:
        """Whether the text tokenizer's pre-tokenizer always cuts between two field sentences.

        Piecewise encoding is exact only if no token can span the boundary ``". <next field>"``.
        Without a pre-tokenizer (BPE merging across spaces) that depends on the values, so a
        sample of rows cannot prove it: such tokenizers always take the whole-prompt path.
        """
        backend = getattr(self.text_tokenizer, "backend_tokenizer", None)
        if backend is None:
            return True  # cannot inspect: rely on the sample check
        pre = backend.pre_tokenizer
        if pre is None:
            return False
        for f in range(1, len(self.field_names)):
            for value in _PROBE_VALUES:
                left = self.sentence(f - 1, value)
                cut = len(left)  # index of the space between the sentences
                for _, (s, e) in pre.pre_tokenize_str(left + " " + self.sentence(f, "a")):
                    if s < cut and e > cut + 1:
                        return False
        return True

    def _piecewise_is_exact(self, texts_by_row: Sequence[Sequence[str]]) -> bool:
        if not self._pre_tokenizer_cuts_sentences():
            return False
        sample = list(texts_by_row[:_SAMPLE_ROWS])
        return self.encode_piecewise(sample) == self.encode_whole(sample)


__all__ = ["PromptEncoder", "SENTENCE_CACHE_SIZE"]
