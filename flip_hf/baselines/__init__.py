"""The PLM-based baselines of paper Table II (Section V-A3 "Baselines") as HF models:

* **CTR-BERT** (`CTRBertForCTR`): two text towers, the user's fields and the item's fields, and a
  late-fusion MLP over their [CLS] vectors;
* **P5** (`P5ForCTR`): CTR prediction as "yes"/"no" generation with an encoder-decoder (T5 family),
  one task with several question templates.

Which fields are the user's and which the item's: `flip_hf.data.field_sides`. Build one with
`build_baseline`, train it with `train_baseline` (or a `FlipTrainer` and ``processor.data_collator()``),
run it from the command line with ``examples/run_baseline.py``.
"""

from .build import BASELINES, Baseline, build_baseline, get_baseline, load_baseline, register_auto_classes
from .configuration import P5_ANSWER_WORDS, P5_TEMPLATES, BaselineConfig, CTRBertConfig, P5Config
from .encoders import load_encoder, load_encoder_decoder, load_text_tokenizer, truncate_encoder_decoder
from .modeling_base import BaselineCTROutput, BaselinePreTrainedModel
from .modeling_ctr_bert import CTRBertForCTR
from .modeling_p5 import P5ForCTR
from .processing import BaselineProcessor
from .processing_ctr_bert import CTRBertProcessor, DataCollatorForCTRBert
from .processing_p5 import DataCollatorForP5, P5Processor, answer_token_ids
from .training import BaselineArguments, run_baseline, train_baseline

__all__ = [
    "BASELINES",
    "BaselineArguments",
    "Baseline",
    "BaselineCTROutput",
    "BaselineConfig",
    "BaselinePreTrainedModel",
    "BaselineProcessor",
    "CTRBertConfig",
    "CTRBertForCTR",
    "CTRBertProcessor",
    "DataCollatorForCTRBert",
    "DataCollatorForP5",
    "P5Config",
    "P5ForCTR",
    "P5Processor",
    "P5_ANSWER_WORDS",
    "P5_TEMPLATES",
    "answer_token_ids",
    "build_baseline",
    "get_baseline",
    "load_baseline",
    "load_encoder",
    "load_encoder_decoder",
    "load_text_tokenizer",
    "register_auto_classes",
    "run_baseline",
    "train_baseline",
    "truncate_encoder_decoder",
]
