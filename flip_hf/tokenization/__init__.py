"""Rows to model inputs (paper Section III-A): the tabular tokenizer (feature ids and the text prompt
of the same row), its vocabulary files, the prompt encoder and the data collators (masking for
pretraining, Section IV-C). Knows nothing of the models."""

from .collator import DataCollatorForCTR, DataCollatorForFlipPretraining
from .tokenization_flip import FlipTabularTokenizer

__all__ = ["DataCollatorForCTR", "DataCollatorForFlipPretraining", "FlipTabularTokenizer"]
