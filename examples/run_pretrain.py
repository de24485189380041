#!/usr/bin/env python
"""FLIP modality-alignment pretraining (paper Section IV-C) through the HF Trainer.

    python examples/run_pretrain.py --dataset movielens-100k --output_dir runs/pretrain \
        --max_train_samples 2000 --num_train_epochs 1 --per_device_train_batch_size 64

Data parallel (the contrastive loss then uses every process's negatives, with exact gradients):

    accelerate launch --multi_gpu --num_processes 2 examples/run_pretrain.py ...   # CPU: gloo

Every FlipConfig hyperparameter is a flag (--contrastive_tau, --use_icl False, --id_model deepfm,
...); --preset picks a named variant (flip, ctrl, ptab, and the ablations of Table VII). The output
folder (and every checkpoint-* folder) holds the model (safetensors + config.json) and the
FlipTabularTokenizer; resume with --resume_from_checkpoint.
"""

from flip_hf.cli import pretrain_main

if __name__ == "__main__":
    pretrain_main()
