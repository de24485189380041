"""Shared fixtures: a small learnable table, the packaged MiniLM tokenizer and a tiny random BERT."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))

OCCUPATIONS = ["writer", "college/grad student", "doctor/health care", "K-12 student", "artist", "programmer"]
GENRES = ["Comedy", "Drama", "Action, Thriller", "Children's, Animation", "Sci-Fi"]


def make_table(n: int = 400, seed: int = 0, missing: bool = True) -> dict[str, list]:
    """A table whose label depends on an interaction of two fields (plus noise)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 40, n)
    gender = rng.integers(0, 2, n)
    occ = rng.integers(0, len(OCCUPATIONS), n)
    movie = rng.integers(0, 30, n)
    genre = movie % len(GENRES)
    logit = np.where((gender == 1) == (genre % 2 == 0), 1.5, -1.5) + 0.3 * rng.standard_normal(n)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    table = {
        "user id": [str(u) for u in users],
        "gender": ["female" if g else "male" for g in gender],
        "occupation": [OCCUPATIONS[o] for o in occ],
        "movie id": [str(m) for m in movie],
        "title": [f"Movie number {m} ({1980 + m})" for m in movie],
        "genres": [GENRES[g] for g in genre],
        "label": label.tolist(),
    }
    if missing:
        table["occupation"][0] = None
        table["title"][1] = None
    return table


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine two OpenMP
    threads competing with another process slow every op down ~20x; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def table():
    return make_table()


@pytest.fixture(scope="session")
def text_tokenizer():
    from transformers import AutoTokenizer

    from flip_hf import default_plm_path

    return AutoTokenizer.from_pretrained(default_plm_path())


@pytest.fixture(scope="session")
def flip_tokenizer(table, text_tokenizer):
    from flip_hf import FlipTabularTokenizer

    return FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer)


@pytest.fixture
def tiny_text_config(text_tokenizer):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(text_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
