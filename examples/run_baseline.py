#!/usr/bin/env python
"""Train a PLM baseline of the paper's Table II with the HF Trainer: CTR-BERT (two BERT towers, the
user's text and the item's text) or P5 (CTR as "yes"/"no" generation with a T5-family model).

    python examples/run_baseline.py --baseline ctr_bert --dataset movielens-1m --data_dir path/to/ml-1m \
        --validation_size 0.1 --eval_strategy epoch --output_dir runs/ctr_bert --num_train_epochs 2
    python examples/run_baseline.py --baseline p5 --plm path/to/local/t5-small --dataset movielens-100k \
        --output_dir runs/p5

Built-in data sets know their user/item split; for your own table name the user's fields
(--dataset csv --data_files clicks.csv --user_fields "user id,gender,occupation"; the others are the
item's). --plm is a local checkpoint: an encoder for ctr_bert (default: the packaged MiniLM), an
encoder-decoder for p5 (required: none ships). Every TrainingArguments flag works.
Writes test AUC / Logloss to <output_dir>/results.json and the model, processor and tokenizer to <output_dir>.
"""

from flip_hf.baselines.cli import baseline_main

if __name__ == "__main__":
    baseline_main()
