#!/usr/bin/env python
"""Train a plain ID-based CTR model (the paper's "N/A" baseline) with the HF Trainer.

    python examples/run_ctr.py --dataset movielens-1m --data_dir ../shared/data/ml-1m \
        --id_model dcnv2 --output_dir runs/dcnv2 --num_train_epochs 2

ID-model hyperparameters are FlipConfig flags (--id_embedding_dim, --id_mlp_hidden_sizes 400 400,
--id_dropout, --id_model_kwargs '{"num_cross_layers": 2}'); every TrainingArguments flag works.
Writes test AUC / Logloss to <output_dir>/results.json and the model + tokenizer to <output_dir>.
"""

from flip_hf.cli import ctr_main

if __name__ == "__main__":
    ctr_main()
