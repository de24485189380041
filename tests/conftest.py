"""Shared fixtures: a small learnable table, the packaged MiniLM tokenizer and a tiny random BERT."""

from __future__ import annotations

import os

import pytest
import torch
from synthetic import make_table

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


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
def free_port():
    """A free local TCP port for a rendezvous (no fixed ports: they collide on a busy machine)."""
    import socket

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick


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


@pytest.fixture(scope="session")
def tiny_plm(tmp_path_factory, text_tokenizer):
    """A tiny random BERT saved as a local HF checkpoint, with the MiniLM tokenizer."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny_plm")
    config = BertConfig(
        vocab_size=len(text_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(path)
    text_tokenizer.save_pretrained(path)
    return str(path)
