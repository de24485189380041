#!/usr/bin/env python
"""Finetune FLIP (--mode joint), FLIP_ID (id) or FLIP_PLM (plm) for CTR (paper Section IV-D).

    python examples/run_finetune.py --pretrained_dir runs/pretrain --mode joint \
        --dataset movielens-100k --output_dir runs/flip

--pretrained_dir is a run_pretrain.py output (model + tokenizer); without it the model starts from
the plain encoders. --validation_size 0.1 carves a validation split from the end of train for
--eval_strategy epoch / --early_stopping_patience; the test split is read once, at the end. Writes
<output_dir>/results.json, the model, the tokenizer and a filled-in model card (README.md);
--push_to_hub / --hub_model_id upload that folder.
"""

from flip_hf.cli import finetune_main

if __name__ == "__main__":
    finetune_main()
