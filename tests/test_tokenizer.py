"""Tests of `FlipTabularTokenizer` and its `PromptEncoder`: feature-id layout and counts, unseen and
missing values in both views, the text view and its ``token_field_ids``, piecewise == whole-prompt
encoding (WordPiece, byte-level BPE, SentencePiece-style Unigram, and tokenizers for which piecewise
is not exact), input formats, padding / tensors, save / load, errors and `datasets` caching.

Every text tokenizer here is local: the packaged MiniLM (WordPiece) or built in memory with the
`tokenizers` library.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from types import SimpleNamespace

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import make_table

from flip_hf import FlipTabularTokenizer
from flip_hf.tokenization.prompt_encoding import PromptEncoder
from flip_hf.tokenization.tokenization_flip import MASK_ID, PAD_ID, UNKNOWN_TEXT
from flip_hf.tokenization.tokenization_io import FEATURE_VOCAB_FILE

FIELDS = ["user id", "gender", "occupation", "movie id", "title", "genres"]
PROPERTY = settings(
    max_examples=int(os.environ.get("FLIP_HYPOTHESIS_EXAMPLES", "25")),  # raise it for a deeper search
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


# ---------------------------------------------------------------------------- helpers
def columns_of(table: dict, rows: slice | list[int]) -> dict[str, list]:
    idx = range(len(table["label"]))[rows] if isinstance(rows, slice) else rows
    return {k: [v[i] for i in idx] for k, v in table.items()}


def value_texts(tok: FlipTabularTokenizer, rows: dict[str, list]) -> list[list[str]]:
    """The value text of every (row, field) as the text view must show it: the stripped cell, or
    "unknown" for a missing value (and, under ``unseen_text="unknown"``, for an unseen one)."""
    out = []
    for i in range(len(rows[tok.field_names[0]])):
        fids = tok.encode_features({f: [rows[f][i]] for f in tok.field_names})[0].tolist()
        hidden = [
            rows[name][i] is None or (tok.unseen_text == "unknown" and fid == tok.unknown_feature_id(f))
            for f, (name, fid) in enumerate(zip(tok.field_names, fids))
        ]
        out.append([UNKNOWN_TEXT if h else str(rows[name][i]).strip() for name, h in zip(tok.field_names, hidden)])
    return out


def value_tokens(enc, i: int, f: int) -> list[int]:
    """The text tokens row ``i`` marks as the value of field ``f``."""
    return [t for t, m in zip(enc["input_ids"][i], enc["token_field_ids"][i]) if m == f]


def body_and_marks(tok: FlipTabularTokenizer, enc, i: int) -> tuple[list[int], list[int]]:
    """Row ``i`` without the special tokens the text tokenizer adds around a sequence."""
    prefix, suffix = tok.prompt_encoder.prefix_ids, tok.prompt_encoder.suffix_ids
    pre, post = len(prefix), len(suffix)
    ids, marks = list(enc["input_ids"][i]), list(enc["token_field_ids"][i])
    assert ids[:pre] == prefix and ids[len(ids) - post :] == suffix
    assert set(marks[:pre]) <= {-1} and set(marks[len(marks) - post :]) <= {-1}
    return ids[pre : len(ids) - post], marks[pre : len(marks) - post]


def values_spans(tok: FlipTabularTokenizer, texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The whole prompt of one row and the character span of each value in it."""
    prompt, spans = "", []
    for f, (name, value) in enumerate(zip(tok.field_names, texts)):
        prompt += ("" if f == 0 else " ") + f"{name} is "
        spans.append((len(prompt), len(prompt) + len(value)))
        prompt += value + "."
    return prompt, spans


# ---------------------------------------------------------------------------- strategies
PUNCT = list("/()-',.&:!?")
ascii_value = st.text(
    alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") + PUNCT),
    min_size=1,
    max_size=16,
)
unicode_value = st.text(
    alphabet=st.one_of(st.characters(categories=["L", "Nd"], codec="utf-8"), st.sampled_from(PUNCT + [" "])),
    min_size=1,
    max_size=16,
)


def clean(values):
    """Single internal spaces, no surrounding whitespace, not whitespace-only."""
    return values.map(lambda s: " ".join(s.split())).filter(bool)


field_name = clean(
    st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz _-0123456789")), min_size=1, max_size=12)
)


@st.composite
def tables(draw, values=unicode_value, max_rows=5, max_fields=4, missing=True):
    """A small table: unique field names (never ``label``) and 1..max_rows rows, some cells None."""
    names = draw(st.lists(field_name, min_size=1, max_size=max_fields, unique=True).filter(lambda n: "label" not in n))
    n_rows = draw(st.integers(1, max_rows))
    cell = st.one_of(st.none(), clean(values)) if missing else clean(values)
    table = {n: draw(st.lists(cell, min_size=n_rows, max_size=n_rows)) for n in names}
    table["label"] = draw(st.lists(st.integers(0, 1), min_size=n_rows, max_size=n_rows))
    return table


# ---------------------------------------------------------------------------- offline text tokenizers
def _corpus() -> list[str]:
    t = make_table(200, seed=3, missing=False)
    prompts = [" ".join(f"{f} is {t[f][i]}." for f in FIELDS) for i in range(200)]
    return prompts + [
        "The quick brown fox (1999) jumps over the lazy dog's back.",
        "college/grad student, K-12 & artist!",
    ]


def _wrap(tokenizer_object, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=tokenizer_object, **special)


@pytest.fixture(scope="module")
def corpus():
    return _corpus()


@pytest.fixture(scope="module", params=["roberta", "gpt2"])
def byte_bpe(request, corpus):
    """Byte-level BPE trained in memory: RoBERTa-style (<s> ... </s>, trimmed offsets) or GPT-2-style
    (ByteLevel post-processor with ``trim_offsets=False``: a word token's offsets include its space)."""
    from tokenizers import ByteLevelBPETokenizer, processors

    trim = request.param == "roberta"
    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=trim)
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(corpus, vocab_size=420, min_frequency=2, special_tokens=special, show_progress=False)
    if trim:
        bpe.post_processor = processors.RobertaProcessing(
            ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
        )
    else:
        bpe.post_processor = processors.Sequence(
            [
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]),
            ]
        )
    return _wrap(
        bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )


@pytest.fixture(scope="module")
def unigram_metaspace(corpus):
    """SentencePiece-style: Metaspace pre-tokenizer ("▁word", offsets include the space) + Unigram."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tk = Tokenizer(models.Unigram())
    tk.pre_tokenizer = pre_tokenizers.Metaspace()
    tk.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>", "<mask>"]
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") + PUNCT
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=specials, unk_token="<unk>", initial_alphabet=alphabet, show_progress=False
    )
    tk.train_from_iterator(corpus, trainer)
    tk.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return _wrap(tk, eos_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")


# ============================================================================ feature-id space
def test_layout_reserved_ids_and_counts(table, flip_tokenizer):
    tok = flip_tokenizer
    assert tok.num_fields == 6 and tok.field_names == FIELDS
    assert (tok.pad_feature_id, tok.mask_feature_id) == (PAD_ID, MASK_ID) == (0, 1)
    offsets, sizes = tok.field_offsets, tok.field_sizes
    assert offsets[0] == 2
    assert all(offsets[f] + sizes[f] == offsets[f + 1] for f in range(tok.num_fields - 1))
    assert tok.feature_vocab_size == offsets[-1] + sizes[-1] == len(tok)
    counts = tok.feature_counts
    assert counts.shape == (tok.feature_vocab_size,) and counts.dtype == torch.int64
    assert counts[PAD_ID] == 0 and counts[MASK_ID] == 0
    n = len(table["label"])
    assert int(counts.sum()) == n * tok.num_fields  # missing values count for their field's unknown id
    for f, name in enumerate(FIELDS):
        freq = Counter(v for v in table[name] if v is not None)
        assert sizes[f] == 1 + len(freq)
        assert int(counts[tok.unknown_feature_id(name)]) == sum(v is None for v in table[name])
        seen = []
        for value, c in freq.items():
            fid = int(tok.encode_features({name2: [value if name2 == name else None] for name2 in FIELDS})[0, f])
            assert tok.id_to_value(fid) == (name, value)
            assert int(counts[fid]) == c
            seen.append((fid, c))
        ids_by_rank = [fid for fid, _ in sorted(seen)]  # values are numbered most frequent first
        assert [int(counts[i]) for i in ids_by_rank] == sorted((c for _, c in seen), reverse=True)
    ftf = tok.feature_to_field()
    assert ftf[:2].tolist() == [-1, -1]
    assert all(ftf[offsets[f] : offsets[f] + sizes[f]].eq(f).all() for f in range(tok.num_fields))


def test_counts_sum_without_missing(text_tokenizer):
    t = make_table(150, seed=5, missing=False)
    tok = FlipTabularTokenizer.from_dataset(t, text_tokenizer=text_tokenizer)
    assert int(tok.feature_counts.sum()) == 150 * 6
    assert int(sum(tok.feature_counts[o] for o in tok.field_offsets)) == 0  # nothing unknown


def test_numeric_cells_are_canonical(text_tokenizer):
    tok = FlipTabularTokenizer.from_dataset({"n": ["3", "4", "3"], "label": [0, 1, 0]}, text_tokenizer=text_tokenizer)
    same = tok.encode_features({"n": ["3", 3, 3.0, np.int64(3), " 3 "]})[:, 0].tolist()
    assert len(set(same)) == 1 and same[0] != tok.unknown_feature_id("n")
    missing = tok.encode_features({"n": [None, float("nan"), "", "   "]})[:, 0].tolist()
    assert missing == [tok.unknown_feature_id("n")] * 4


UNSEEN_ROW = {
    "user id": "99999",  # unseen
    "gender": None,  # missing
    "occupation": float("nan"),  # missing
    "movie id": "  ",  # missing
    "title": "Never Seen (2031)",  # unseen
    "genres": "Comedy",  # seen
}


def test_unseen_values_keep_their_text_by_default(flip_tokenizer, text_tokenizer):
    """Default ``unseen_text="value"``: an unseen value is its field's unknown id in the tabular view
    but keeps its raw text in the text view; a missing value is the unknown id and "unknown"."""
    tok = flip_tokenizer
    assert tok.unseen_text == "value"
    enc = tok(UNSEEN_ROW)
    ids = enc["feature_ids"][0]
    for f, name in enumerate(FIELDS[:-1]):
        assert ids[f] == tok.unknown_feature_id(name)
    assert tok.id_to_value(ids[-1]) == ("genres", "Comedy")
    prompt = tok.prompt(UNSEEN_ROW)
    assert prompt == (
        "user id is 99999. gender is unknown. occupation is unknown. movie id is unknown. "
        "title is Never Seen (2031). genres is Comedy."
    )
    assert enc["input_ids"][0] == text_tokenizer(prompt)["input_ids"]
    for f, text in enumerate(["99999", UNKNOWN_TEXT, UNKNOWN_TEXT, UNKNOWN_TEXT, "Never Seen (2031)", "Comedy"]):
        assert value_tokens(enc, 0, f) == text_tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded = tok.decode_field_values(enc["input_ids"][0], enc["token_field_ids"][0])
    assert decoded["user id"] == "99999" and decoded["gender"] == decoded["movie id"] == UNKNOWN_TEXT


def test_unseen_value_text_with_a_cased_tokenizer(table, byte_bpe):
    tok = FlipTabularTokenizer.from_dataset(table, text_tokenizer=byte_bpe)
    row = {**columns_of(table, [2]), "title": ["Brand New Film"], "gender": [None]}
    enc = tok(row)
    assert enc["feature_ids"][0][4] == tok.unknown_feature_id("title")
    assert enc["feature_ids"][0][1] == tok.unknown_feature_id("gender")
    decoded = tok.decode_field_values(enc["input_ids"][0], enc["token_field_ids"][0])
    assert decoded["title"] in ("Brand New Film", "Brand New Film.") and decoded["gender"] == UNKNOWN_TEXT


def test_unseen_text_unknown_mode(table, text_tokenizer):
    """``unseen_text="unknown"`` (the behaviour before "value" became the default): unseen values read "unknown"."""
    tok = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer, unseen_text="unknown")
    enc = tok(UNSEEN_ROW)
    assert (
        enc["feature_ids"]
        == FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer)(UNSEEN_ROW)["feature_ids"]
    )  # the tabular view does not depend on the mode
    prompt = tok.prompt(UNSEEN_ROW)
    assert prompt == (
        "user id is unknown. gender is unknown. occupation is unknown. movie id is unknown. "
        "title is unknown. genres is Comedy."
    )
    decoded = tok.decode_field_values(enc["input_ids"][0], enc["token_field_ids"][0])
    assert decoded == {**{n: UNKNOWN_TEXT for n in FIELDS[:-1]}, "genres": "comedy"}
    assert enc["input_ids"][0] == text_tokenizer(prompt)["input_ids"]


@pytest.mark.parametrize("mode", ["value", "unknown"])
def test_min_count_maps_rare_values_to_unknown(table, text_tokenizer, mode):
    """Values seen fewer than ``min_count`` times get the unknown id; as unseen values, they keep
    their text under the default mode."""
    tok = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer, min_count=12, unseen_text=mode)
    for f, name in enumerate(FIELDS):
        freq = Counter(v for v in table[name] if v is not None)
        kept = {v for v, c in freq.items() if c >= 12}
        rare = {v for v, c in freq.items() if c < 12}
        assert tok.field_sizes[f] == 1 + len(kept)
        unk = tok.unknown_feature_id(name)
        assert int(tok.feature_counts[unk]) == sum(v is None for v in table[name]) + sum(freq[v] for v in rare)
        for v in sorted(rare)[:3]:
            enc = tok({n: [v if n == name else table[n][5]] for n in FIELDS})
            assert enc["feature_ids"][0][f] == unk
            text = v if mode == "value" else UNKNOWN_TEXT
            assert value_tokens(enc, 0, f) == text_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert int(tok.feature_counts.sum()) == len(table["label"]) * len(FIELDS)
    assert any(tok.field_sizes[f] < 1 + len(set(table[n]) - {None}) for f, n in enumerate(FIELDS))


@pytest.mark.parametrize("split", ["train_test_split", "filter", "select"])
def test_fit_uses_the_train_split_only(split, text_tokenizer):
    t = make_table(120, seed=1, missing=False)
    t["title"] = [f"train title {i % 7}" for i in range(80)] + [f"test title {i}" for i in range(40)]
    full = datasets.Dataset.from_dict(t)
    if split == "train_test_split":  # an index mapping over the full table
        parts = full.train_test_split(test_size=40, shuffle=True, seed=0)
        train, test = parts["train"], parts["test"]
    elif split == "filter":
        train = full.filter(lambda r: r["title"].startswith("train"))
        test = full.filter(lambda r: r["title"].startswith("test"))
    else:
        train, test = full.select(range(80)), full.select(range(80, 120))
    tok = FlipTabularTokenizer.from_dataset(train, text_tokenizer=text_tokenizer)
    assert int(tok.feature_counts.sum()) == len(train) * 6
    train_titles = set(train["title"])
    assert tok.field_sizes[4] == 1 + len(train_titles)
    enc = tok(test[:])
    unk = tok.unknown_feature_id("title")
    expected = [unk if title not in train_titles else None for title in test["title"]]
    assert all(e is None or got[4] == e for got, e in zip(enc["feature_ids"], expected))
    if split != "train_test_split":
        assert all(got[4] == unk for got in enc["feature_ids"])


# ============================================================================ text view (WordPiece)
def test_prompt_template_and_alignment(table, flip_tokenizer, text_tokenizer):
    tok = flip_tokenizer
    rows = columns_of(table, slice(0, 12))
    enc = tok(rows)
    for i, texts in enumerate(value_texts(tok, rows)):
        prompt = tok.prompt({f: rows[f][i] for f in FIELDS})
        assert prompt == " ".join(f"{n} is {v}." for n, v in zip(FIELDS, texts))
        assert enc["input_ids"][i] == text_tokenizer(prompt)["input_ids"]
        assert enc["attention_mask"][i] == [1] * len(enc["input_ids"][i])
        assert (
            enc["input_ids"][i][0] == text_tokenizer.cls_token_id
            and enc["input_ids"][i][-1] == text_tokenizer.sep_token_id
        )
    assert enc["label"] == rows["label"]
    assert value_texts(tok, rows)[1][4] == UNKNOWN_TEXT  # the table's missing title


def _expected_wordpiece(tok, text_tokenizer, texts):
    """[CLS] + per field: tokens of "<field> is" (-1), of the value (f), of "." (-1) + [SEP]."""
    ids, marks = [text_tokenizer.cls_token_id], [-1]
    for f, (name, value) in enumerate(zip(tok.field_names, texts)):
        head = text_tokenizer(f"{name} is", add_special_tokens=False)["input_ids"]
        val = text_tokenizer(value, add_special_tokens=False)["input_ids"]
        dot = text_tokenizer(".", add_special_tokens=False)["input_ids"]
        ids += head + val + dot
        marks += [-1] * len(head) + [f] * len(val) + [-1] * len(dot)
    return ids + [text_tokenizer.sep_token_id], marks + [-1]


@PROPERTY
@given(data=tables())
def test_property_wordpiece_value_tokens_ids_and_template(text_tokenizer, data):
    """(a) value tokens of field f decode to its (normalised) value text, (b) template and special
    tokens are never marked, (c) ids lie in their field's range, piecewise == whole prompt."""
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=text_tokenizer)
    names = tok.field_names
    enc = tok(data)
    texts_by_row = value_texts(tok, data)
    for i, texts in enumerate(texts_by_row):
        ids, marks = _expected_wordpiece(tok, text_tokenizer, texts)
        assert enc["input_ids"][i] == ids
        assert enc["token_field_ids"][i] == marks
        decoded = tok.decode_field_values(enc["input_ids"][i], enc["token_field_ids"][i])
        for f, name in enumerate(names):
            reference = text_tokenizer.decode(text_tokenizer(texts[f], add_special_tokens=False).input_ids)
            assert decoded[name] == reference.strip()
            fid = enc["feature_ids"][i][f]
            assert 0 <= fid < tok.feature_vocab_size
            assert tok.field_offsets[f] <= fid < tok.field_offsets[f] + tok.field_sizes[f]
            cell = data[name][i]
            if cell is None:
                assert fid == tok.unknown_feature_id(name) and texts[f] == UNKNOWN_TEXT
            else:  # seen in training (the table is its own training split)
                assert tok.id_to_value(fid) == (name, cell) and texts[f] == cell
    whole = tok.prompt_encoder.encode_whole(texts_by_row)
    piece = tok.prompt_encoder.encode(texts_by_row, add_special_tokens=False)
    assert tok.prompt_encoder.piecewise is True
    assert piece == whole


@PROPERTY
@given(data=tables(max_rows=3), cut=st.integers(3, 60))
def test_property_truncation_keeps_marks_aligned(text_tokenizer, data, cut):
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=text_tokenizer)
    full = tok(data, truncation=False)
    short = tok(data, max_length=cut)
    for i in range(len(data["label"])):
        ids, marks, mask = short["input_ids"][i], short["token_field_ids"][i], short["attention_mask"][i]
        assert len(ids) == len(marks) == len(mask) <= cut
        assert len(ids) == min(cut, len(full["input_ids"][i]))
        body, body_marks = body_and_marks(tok, short, i)
        full_body, full_marks = body_and_marks(tok, full, i)
        assert body == full_body[: len(body)] and body_marks == full_marks[: len(body)]
        assert short["feature_ids"][i] == full["feature_ids"][i]


def test_max_length_too_small_for_specials(flip_tokenizer, table):
    with pytest.raises(ValueError, match="max_length"):
        flip_tokenizer(columns_of(table, slice(0, 2)), max_length=2)


def test_default_max_length_truncates_long_prompts(text_tokenizer):
    long_value = " ".join(["word"] * 700)
    tok = FlipTabularTokenizer.from_dataset({"a": [long_value], "b": ["x"]}, text_tokenizer=text_tokenizer)
    enc = tok({"a": [long_value], "b": ["x"]})
    assert tok.max_length == 512 and len(enc["input_ids"][0]) == 512
    assert enc["input_ids"][0][-1] == text_tokenizer.sep_token_id and set(enc["token_field_ids"][0][1:-1]) == {-1, 0}


def test_prompt_encoder_on_its_own(text_tokenizer):
    """The alignment engine works from value texts alone: template, frame, truncation, path choice."""
    encoder = PromptEncoder(["occupation", "gender"], text_tokenizer)
    rows = [["writer", "female"], ["K-12 student", "male"]]
    assert encoder.piecewise is None  # decided by the first batch
    assert encoder.prompt(rows[1]) == "occupation is K-12 student. gender is male."
    ids, marks = encoder.encode(rows)
    assert encoder.piecewise is True
    assert encoder.prefix_ids == [text_tokenizer.cls_token_id] and encoder.suffix_ids == [text_tokenizer.sep_token_id]
    for i, row in enumerate(rows):
        assert ids[i] == text_tokenizer(encoder.prompt(row))["input_ids"]
        for f, value in enumerate(row):
            expected = text_tokenizer(value, add_special_tokens=False)["input_ids"]
            assert value_tokens({"input_ids": ids, "token_field_ids": marks}, i, f) == expected
    body_ids, body_marks = encoder.encode(rows, add_special_tokens=False)
    assert body_ids == [x[1:-1] for x in ids] and body_marks == [m[1:-1] for m in marks]
    short_ids, short_marks = encoder.encode(rows, max_length=5)
    assert short_ids == [x[:4] + x[-1:] for x in ids] and short_marks == [m[:4] + m[-1:] for m in marks]
    with pytest.raises(ValueError, match="max_length"):
        encoder.encode(rows, max_length=2)
    with pytest.raises(TypeError, match="fast"):  # a tokenizer without offset mappings
        PromptEncoder(["a"], SimpleNamespace(is_fast=False))


# ============================================================================ other tokenizer families
def _check_marks_against_offsets(tok, enc, texts_by_row):
    """Value tokens of field f cover exactly the characters of value f (whitespace aside), plus at
    most the template's "." right after it where the tokenizer merges it with the value's last
    characters; every other body token lies in the template."""
    text_tok = tok.text_tokenizer
    for i, texts in enumerate(texts_by_row):
        prompt, spans = values_spans(tok, texts)
        ref = text_tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
        body, marks = body_and_marks(tok, enc, i)
        assert body == ref["input_ids"]
        covered = [set() for _ in spans]
        for (s, e), m in zip(ref["offset_mapping"], marks):
            chars = {c for c in range(s, e) if not prompt[c].isspace()}
            if m == -1:
                assert not any(chars & set(range(a, b)) for a, b in spans), (prompt, s, e)
            else:
                a, b = spans[m]
                assert chars <= set(range(a, b + 1))  # the value, at most with the "." after it
                assert a <= s + (prompt[s].isspace()) and e <= b + 1
                covered[m] |= chars
        for (a, b), cov in zip(spans, covered):
            assert {c for c in range(a, b) if not prompt[c].isspace()} <= cov


def _check_decoded_values(tok, enc, texts_by_row):
    for i, texts in enumerate(texts_by_row):
        for f, value in enumerate(texts):
            toks = [t for t, m in zip(enc["input_ids"][i], enc["token_field_ids"][i]) if m == f]
            decoded = tok.text_tokenizer.decode(toks, clean_up_tokenization_spaces=False).strip()
            assert decoded in (value, value + "."), (decoded, value)


@PROPERTY
@given(data=tables(values=unicode_value, max_rows=4))
def test_property_byte_level_bpe(byte_bpe, data):
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=byte_bpe)
    enc = tok(data)
    texts_by_row = value_texts(tok, data)
    assert tok.prompt_encoder.piecewise is True
    assert tok.prompt_encoder.encode(texts_by_row, add_special_tokens=False) == tok.prompt_encoder.encode_whole(
        texts_by_row
    )
    _check_marks_against_offsets(tok, enc, texts_by_row)
    _check_decoded_values(tok, enc, texts_by_row)


def test_byte_level_bpe_marks_first_word_of_values(byte_bpe):
    """Regression: with untrimmed offsets ("Ġ34" spans the space) the first value word was unmarked."""
    data = {
        "user id": ["34", "25"],
        "title": ["Toy Story (1995)", "Heat"],
        "genres": ["Children's, Animation", "Comedy"],
    }
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=byte_bpe)
    enc = tok(data)
    d0 = tok.decode_field_values(enc["input_ids"][0], enc["token_field_ids"][0])
    d1 = tok.decode_field_values(enc["input_ids"][1], enc["token_field_ids"][1])
    assert d0["user id"] == "34" and d0["genres"] == "Children's, Animation" and d1["genres"] == "Comedy"
    assert d0["title"] in ("Toy Story (1995)", "Toy Story (1995).") and d1["title"] == "Heat"
    head = [t for t, m in zip(enc["input_ids"][1], enc["token_field_ids"][1]) if m == -1]
    # only the template is left (a lone "Ġ" before a value is the template's space)
    assert byte_bpe.decode(head, skip_special_tokens=True).replace(" ", "") == "useridis.titleis.genresis."


@PROPERTY
@given(data=tables(values=ascii_value, max_rows=4))
def test_property_sentencepiece_style_unigram(unigram_metaspace, data):
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=unigram_metaspace)
    enc = tok(data)
    texts_by_row = value_texts(tok, data)
    assert tok.prompt_encoder.encode(texts_by_row, add_special_tokens=False) == tok.prompt_encoder.encode_whole(
        texts_by_row
    )
    _check_marks_against_offsets(tok, enc, texts_by_row)
    _check_decoded_values(tok, enc, texts_by_row)


def test_sentencepiece_style_internal_spaces_belong_to_value(unigram_metaspace):
    data = {"title": ["Movie number 18 (1998)"], "genres": ["War"]}
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=unigram_metaspace)
    enc = tok(data)
    assert tok.decode_field_values(enc["input_ids"][0], enc["token_field_ids"][0]) == {
        "title": "Movie number 18 (1998)",
        "genres": "War",
    }


# ---------------------------------------------------------------------------- piecewise is not exact
@pytest.fixture(scope="module")
def merging_bpe():
    """BPE without a pre-tokenizer whose merges cross the sentence boundary only after a value
    ending in "z": "z" "." -> "z.", "z." " " -> "z. ". Piecewise encoding is exact for every row
    without such a value, so a sample of rows cannot tell."""
    from tokenizers import Tokenizer, models, processors

    alphabet = sorted(set("abcdefghijklmnopqrstuvwxyz0123456789 .,'()/-"))
    vocab = {
        t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", "<mask>"] + alphabet + ["z.", "z. ", "is", " is"])
    }
    merges = [("z", "."), ("z.", " "), ("i", "s"), (" ", "is")]
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    tk.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return _wrap(tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")


def test_not_exact_tokenizer_falls_back_to_whole_prompts(merging_bpe):
    fit = {"a": ["abz", "abc", "xy"], "b": ["q", "r", "s"], "label": [0, 1, 0]}
    tok = FlipTabularTokenizer.from_dataset(fit, text_tokenizer=merging_bpe)
    lucky = {"a": ["abc", "xy"], "b": ["q", "r"]}  # no value ends in "z": piecewise == whole here
    texts = value_texts(tok, lucky)
    assert tok.prompt_encoder.encode_piecewise(texts) == tok.prompt_encoder.encode_whole(texts)
    assert tok.prompt_encoder.piecewise is None
    tok(lucky)  # the first batch decides the path
    assert tok.prompt_encoder.piecewise is False
    enc = tok({"a": ["abz"], "b": ["q"]})
    prompt = "a is abz. b is q."
    assert enc["input_ids"][0] == merging_bpe(prompt)["input_ids"]
    assert "z. " in merging_bpe.convert_ids_to_tokens(enc["input_ids"][0])
    whole_ids, whole_marks = tok.prompt_encoder.encode_whole([["abz", "q"]])
    assert enc["token_field_ids"][0] == [-1] + whole_marks[0] + [-1]
    assert enc["token_field_ids"][0].count(0) >= 2 and enc["token_field_ids"][0].count(1) == 1


@pytest.fixture(scope="module")
def prepend_tokenizer():
    """Splits on whitespace, but a normalizer prepends "▁" to every input: tokenizing a field
    sentence on its own (" gender is male.") differs from tokenizing it inside the prompt."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = ["user", "id", "is", "gender", "male", "female", "unknown", "title", "a", "b", "▁"]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + words)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tk.normalizer = normalizers.Prepend("▁ ")
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return _wrap(tk, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]", mask_token="[MASK]")


def test_sample_check_detects_inexact_piecewise(prepend_tokenizer):
    data = {"user id": ["a", "b"], "gender": ["male", "female"], "title": ["a", None]}
    tok = FlipTabularTokenizer.from_dataset(data, text_tokenizer=prepend_tokenizer)
    texts = value_texts(tok, data)
    piecewise_ids = tok.prompt_encoder.encode_piecewise(texts)[0]
    assert piecewise_ids != tok.prompt_encoder.encode_whole(texts)[0]  # piecewise would be wrong
    enc = tok(data)
    assert tok.prompt_encoder.piecewise is False
    for i in range(2):
        assert enc["input_ids"][i] == prepend_tokenizer(tok.prompt({k: data[k][i] for k in data}))["input_ids"]
    dec = [tok.decode_field_values(enc["input_ids"][i], enc["token_field_ids"][i]) for i in range(2)]
    assert dec[0] == {"user id": "a", "gender": "male", "title": "a"}
    assert dec[1] == {"user id": "b", "gender": "female", "title": "unknown"}


# ============================================================================ input formats, padding
def test_input_formats_encode_identically(table, flip_tokenizer):
    tok = flip_tokenizer
    rows = columns_of(table, slice(0, 10))
    ref = dict(tok(rows))
    as_list = [{k: rows[k][i] for k in rows} for i in range(10)]
    assert dict(tok(as_list)) == ref
    assert dict(tok(pd.DataFrame(rows))) == ref
    assert dict(tok(datasets.Dataset.from_dict(rows)[:])) == ref
    single = dict(tok(as_list[3]))
    assert {k: v[0] for k, v in single.items()} == {k: v[3] for k, v in ref.items()}
    ds = datasets.Dataset.from_dict(rows)
    mapped = ds.map(lambda b: dict(tok(b)), batched=True, batch_size=4, remove_columns=FIELDS)
    assert mapped[:] == ref
    encoded = tok.encode_dataset(ds, batch_size=3)
    assert set(encoded.column_names) == set(ref)
    assert encoded[:] == ref
    tab_only = tok.encode_dataset(ds, text=False)
    assert set(tab_only.column_names) == {"label", "feature_ids"} and tab_only["feature_ids"] == ref["feature_ids"]


def test_single_row_with_numpy_scalars(text_tokenizer):
    fit = {"movie id": ["1", "2"], "title": ["A", "B"], "label": [0, 1]}
    tok = FlipTabularTokenizer.from_dataset(fit, text_tokenizer=text_tokenizer)
    row = dict(zip(["movie id", "title", "label"], np.array([2, 0, 1])))  # np.int64 cells
    row["title"] = np.str_("B")
    enc = tok(row)
    assert dict(enc) == dict(tok({"movie id": ["2"], "title": ["B"], "label": [1]}))


def test_dataframe_numeric_columns_with_nan(text_tokenizer):
    fit = {"movie id": ["1", "2", "3"], "title": ["A", "B", "C"], "label": [0, 1, 0]}
    tok = FlipTabularTokenizer.from_dataset(fit, text_tokenizer=text_tokenizer)
    df = pd.DataFrame({"movie id": [1, 2, None], "title": ["A", None, "C"]})  # ints become floats
    assert df["movie id"].dtype == np.float64
    enc = tok(df)
    ref = tok({"movie id": ["1", "2", None], "title": ["A", None, "C"]})
    assert enc["feature_ids"] == ref["feature_ids"] and enc["input_ids"] == ref["input_ids"]
    fitted_on_df = FlipTabularTokenizer.from_dataset(pd.DataFrame(fit), text_tokenizer=text_tokenizer)
    assert fitted_on_df.to_dict() == tok.to_dict()


def test_padding_and_tensors(table, flip_tokenizer, text_tokenizer):
    tok = flip_tokenizer
    rows = columns_of(table, slice(0, 7))
    plain = tok(rows)
    lengths = [len(x) for x in plain["input_ids"]]
    assert len(set(lengths)) > 1
    enc = tok(rows, padding=True, return_tensors="pt")
    B, L = 7, max(lengths)
    assert enc["input_ids"].shape == enc["attention_mask"].shape == enc["token_field_ids"].shape == (B, L)
    assert enc["feature_ids"].shape == (B, 6)
    assert all(enc[k].dtype == torch.int64 for k in ("input_ids", "attention_mask", "token_field_ids", "feature_ids"))
    assert enc["label"].tolist() == rows["label"]
    for i, n in enumerate(lengths):
        assert enc["input_ids"][i, :n].tolist() == plain["input_ids"][i]
        assert enc["token_field_ids"][i, :n].tolist() == plain["token_field_ids"][i]
        assert enc["input_ids"][i, n:].eq(text_tokenizer.pad_token_id).all()
        assert enc["attention_mask"][i, n:].eq(0).all() and enc["attention_mask"][i, :n].eq(1).all()
        assert enc["token_field_ids"][i, n:].eq(-1).all()
    fixed = tok(rows, padding="max_length", max_length=64, return_tensors="pt")
    assert fixed["input_ids"].shape == (B, 64) and fixed["token_field_ids"][:, max(lengths) :].eq(-1).all()
    with pytest.raises(ValueError):
        tok(rows, return_tensors="pt")  # ragged without padding
    from transformers.utils import PaddingStrategy

    for no_pad in (False, "do_not_pad", PaddingStrategy.DO_NOT_PAD):
        assert [len(x) for x in tok(rows, padding=no_pad)["input_ids"]] == lengths
    assert tok(rows, padding=PaddingStrategy.LONGEST, return_tensors="pt")["input_ids"].shape == (B, L)
    with pytest.raises(ValueError, match="return_tensors"):
        tok(rows, padding=True, return_tensors="np")
    ids_only = tok(rows, text=False, return_tensors="pt")
    assert set(ids_only) == {"feature_ids", "label"} and torch.equal(ids_only["feature_ids"], enc["feature_ids"])
    assert torch.equal(tok.encode_features(rows), enc["feature_ids"])


# ============================================================================ save / load
def test_save_load_round_trip(table, flip_tokenizer, tmp_path):
    tok = flip_tokenizer
    files = tok.save_pretrained(tmp_path / "tok")
    assert (tmp_path / "tok" / FEATURE_VOCAB_FILE).is_file() and str(tmp_path / "tok" / FEATURE_VOCAB_FILE) in map(
        str, files
    )
    for path in (tmp_path / "tok").iterdir():
        assert path.suffix not in (".pkl", ".pickle", ".bin", ".pt")
        head = path.read_bytes()[:2]
        assert not head.startswith(b"\x80"), f"{path.name} looks like a pickle"
        path.read_text(encoding="utf-8")  # every file is text
    state = json.loads((tmp_path / "tok" / FEATURE_VOCAB_FILE).read_text(encoding="utf-8"))
    assert state["field_names"] == FIELDS and state["feature_vocab_size"] == tok.feature_vocab_size
    loaded = FlipTabularTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.field_names == tok.field_names and loaded.feature_vocab_size == tok.feature_vocab_size
    assert torch.equal(loaded.feature_counts, tok.feature_counts)
    assert loaded.field_offsets == tok.field_offsets and loaded.max_length == tok.max_length
    rows = columns_of(table, slice(0, 20))
    assert dict(loaded(rows)) == dict(tok(rows))
    odd = {**columns_of(table, [4]), "title": ["Unseen Film (2040)"]}
    assert dict(loaded(odd)) == dict(tok(odd))
    assert loaded.fingerprint == tok.fingerprint  # a reload reuses the datasets cache
    again = FlipTabularTokenizer.from_pretrained(tmp_path / "tok", field_names=FIELDS)
    assert again.to_dict() == tok.to_dict()


def test_round_trip_with_offline_bpe(byte_bpe, table, tmp_path):
    tok = FlipTabularTokenizer.from_dataset(table, text_tokenizer=byte_bpe, min_count=2)
    tok.save_pretrained(tmp_path)
    loaded = FlipTabularTokenizer.from_pretrained(tmp_path)
    rows = columns_of(table, slice(0, 10))
    assert dict(loaded(rows)) == dict(tok(rows))
    assert torch.equal(loaded.feature_counts, tok.feature_counts)


@pytest.mark.parametrize("mode", ["value", "unknown"])
def test_unseen_text_mode_survives_save_load(table, text_tokenizer, tmp_path, mode):
    tok = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer, unseen_text=mode)
    tok.save_pretrained(tmp_path)
    assert json.loads((tmp_path / FEATURE_VOCAB_FILE).read_text(encoding="utf-8"))["unseen_text"] == mode
    loaded = FlipTabularTokenizer.from_pretrained(tmp_path)
    assert loaded.unseen_text == mode
    row = {**columns_of(table, [4]), "title": ["Unseen Film (2040)"]}
    expected = "Unseen Film (2040)" if mode == "value" else UNKNOWN_TEXT
    assert f"title is {expected}." in loaded.prompt({k: v[0] for k, v in row.items()})
    assert dict(loaded(row)) == dict(tok(row))
    assert loaded.fingerprint == tok.fingerprint


def test_files_without_unseen_text_load_in_unknown_mode(flip_tokenizer, tmp_path):
    """A file written before the option existed keeps the behaviour it was written with."""
    flip_tokenizer.save_pretrained(tmp_path)
    state = json.loads((tmp_path / FEATURE_VOCAB_FILE).read_text(encoding="utf-8"))
    del state["unseen_text"]
    (tmp_path / FEATURE_VOCAB_FILE).write_text(json.dumps(state), encoding="utf-8")
    old = FlipTabularTokenizer.from_pretrained(tmp_path)
    assert old.unseen_text == "unknown" and "title is unknown." in old.prompt(UNSEEN_ROW)
    assert old.fingerprint != flip_tokenizer.fingerprint  # the mode is part of the `datasets` cache key
    assert old.to_dict() == {**flip_tokenizer.to_dict(), "unseen_text": "unknown"}


def test_load_errors(flip_tokenizer, tmp_path):
    flip_tokenizer.save_pretrained(tmp_path / "tok")
    other = ["user id", "age", "zip code"]
    with pytest.raises(ValueError) as err:
        FlipTabularTokenizer.from_pretrained(tmp_path / "tok", field_names=other)
    msg = str(err.value)
    assert "mismatch" in msg.lower() and "zip code" in msg and "occupation" in msg
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=FEATURE_VOCAB_FILE):
        FlipTabularTokenizer.from_pretrained(tmp_path / "empty")


# ============================================================================ errors
def test_missing_column_is_named(flip_tokenizer, table):
    rows = columns_of(table, slice(0, 3))
    del rows["occupation"]
    with pytest.raises(KeyError, match="occupation"):
        flip_tokenizer(rows)
    with pytest.raises(KeyError, match="occupation"):
        flip_tokenizer.encode_features(rows)
    with pytest.raises(KeyError, match="occupation"):
        flip_tokenizer.encode_dataset(datasets.Dataset.from_dict(rows))
    with pytest.raises(ValueError, match="zip code"):
        FlipTabularTokenizer.from_dataset(
            table, text_tokenizer=flip_tokenizer.text_tokenizer, field_names=["gender", "zip code"]
        )


def test_empty_batches_are_rejected(flip_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        flip_tokenizer([])
    with pytest.raises(ValueError, match="empty"):
        flip_tokenizer({f: [] for f in FIELDS})
    with pytest.raises(ValueError, match="empty"):
        flip_tokenizer(pd.DataFrame({f: [] for f in FIELDS}))
    with pytest.raises(ValueError, match="empty"):
        flip_tokenizer.encode_dataset(datasets.Dataset.from_dict({f: [] for f in FIELDS}))


@pytest.mark.parametrize(
    "split",
    [
        lambda: {f: [] for f in [*FIELDS, "label"]},  # len() of this dict is its column count
        lambda: pd.DataFrame({f: [] for f in [*FIELDS, "label"]}),
        lambda: datasets.Dataset.from_dict({f: [] for f in [*FIELDS, "label"]}),
        lambda: datasets.Dataset.from_dict(make_table(20)).filter(lambda r: False),
        lambda: [],
    ],
    ids=["dict", "dataframe", "dataset", "filtered-dataset", "list"],
)
def test_empty_training_split_is_rejected(split, text_tokenizer):
    with pytest.raises(ValueError, match="empty"):
        FlipTabularTokenizer.from_dataset(split(), text_tokenizer=text_tokenizer)


def test_fit_accepts_list_of_dicts(table, flip_tokenizer, text_tokenizer):
    as_list = [{k: table[k][i] for k in table} for i in range(len(table["label"]))]
    tok = FlipTabularTokenizer.from_dataset(as_list, text_tokenizer=text_tokenizer)
    assert tok.to_dict() == flip_tokenizer.to_dict()


def test_other_constructor_errors(text_tokenizer):
    from tokenizers import Tokenizer, models, pre_tokenizers

    wl = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "[PAD]": 1, "a": 2}, unk_token="[UNK]"))
    wl.pre_tokenizer = pre_tokenizers.Whitespace()
    no_mask = _wrap(wl, unk_token="[UNK]", pad_token="[PAD]")
    with pytest.raises(ValueError, match="mask"):
        FlipTabularTokenizer.from_dataset({"a": ["x"], "label": [1]}, text_tokenizer=no_mask)
    with pytest.raises(ValueError, match="besides the label"):
        FlipTabularTokenizer.from_dataset({"label": [1]}, text_tokenizer=text_tokenizer)
    with pytest.raises(ValueError, match="Duplicate"):
        FlipTabularTokenizer(["a", "a"], {"a": ["x"]}, text_tokenizer=text_tokenizer)
    with pytest.raises(ValueError, match="unseen_text"):
        FlipTabularTokenizer(["a"], {"a": ["x"]}, text_tokenizer=text_tokenizer, unseen_text="raw")
    with pytest.raises(KeyError, match="nope"):
        FlipTabularTokenizer(["a"], {"a": ["x"]}, text_tokenizer=text_tokenizer).unknown_feature_id("nope")
    with pytest.raises(IndexError):
        FlipTabularTokenizer(["a"], {"a": ["x"]}, text_tokenizer=text_tokenizer).id_to_value(99)


# ============================================================================ datasets caching
def _count_calls(monkeypatch):
    calls = {"n": 0}
    original = FlipTabularTokenizer.__call__

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FlipTabularTokenizer, "__call__", counting)
    return calls


def test_encode_dataset_second_call_is_cached(table, flip_tokenizer, tmp_path, monkeypatch):
    datasets.Dataset.from_dict(table).save_to_disk(str(tmp_path / "raw"))
    ds = datasets.load_from_disk(str(tmp_path / "raw"))
    calls = _count_calls(monkeypatch)
    first = flip_tokenizer.encode_dataset(ds, batch_size=100)
    assert calls["n"] == 4 and first.cache_files
    assert all(str(tmp_path / "raw") in c["filename"] for c in first.cache_files)
    second = flip_tokenizer.encode_dataset(ds, batch_size=100)
    assert calls["n"] == 4  # served from the Arrow cache: the map function did not run
    assert [c["filename"] for c in second.cache_files] == [c["filename"] for c in first.cache_files]
    assert second[:] == first[:]
    # a tokenizer with the same feature vocabulary but another text tokenizer must not hit that cache
    from transformers import AutoTokenizer

    cased = AutoTokenizer.from_pretrained(flip_tokenizer.text_tokenizer.name_or_path, do_lower_case=False)
    other = FlipTabularTokenizer.from_dataset(table, text_tokenizer=cased)
    assert other.fingerprint != flip_tokenizer.fingerprint
    third = other.encode_dataset(ds, batch_size=100)
    assert calls["n"] == 8 and third["input_ids"] != first["input_ids"]
    assert third["feature_ids"] == first["feature_ids"]


def test_encode_datasetdict(table, flip_tokenizer):
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(columns_of(table, slice(0, 30))),
            "test": datasets.Dataset.from_dict(columns_of(table, slice(30, 40))),
        }
    )
    enc = flip_tokenizer.encode_dataset(dd)
    assert set(enc) == {"train", "test"} and len(enc["test"]) == 10
    assert enc["test"][:] == dict(flip_tokenizer(columns_of(table, slice(30, 40))))


def test_unseen_values_can_take_the_mask_id(text_tokenizer, tmp_path):
    from flip_hf.tokenization.tokenization_flip import MASK_ID

    train = {"user id": ["1", "2", "3"], "gender": ["male", "female", "male"], "label": [0, 1, 0]}
    tok = FlipTabularTokenizer.from_dataset(train, text_tokenizer=text_tokenizer, unseen_id="mask")
    rows = {"user id": ["2", "99", None], "gender": ["female", "other", "male"]}
    ids = tok.encode_features(rows)
    assert ids[0, 0] == tok.field_offsets[0] + 2  # a known value keeps its id
    assert ids[1, 0] == MASK_ID and ids[1, 1] == MASK_ID  # unseen values: the shared <MASK> id
    assert ids[2, 0] == tok.unknown_feature_id("user id")  # a missing value: the field's unknown id
    assert tok.value_texts(rows)[1] == ["99", "other"]  # the text view still reads them
    tok.save_pretrained(tmp_path)
    assert FlipTabularTokenizer.from_pretrained(tmp_path).unseen_id == "mask"
    plain = FlipTabularTokenizer.from_pretrained(tmp_path, unseen_id="unknown")
    assert plain.encode_features(rows)[1, 0] == plain.unknown_feature_id("user id")
    with pytest.raises(ValueError, match="unseen_id"):
        FlipTabularTokenizer.from_dataset(train, text_tokenizer=text_tokenizer, unseen_id="drop")
