#!/usr/bin/env python
"""The nine ID-based CTR models of the paper (AFM, PNN, Wide&Deep, DCN, DeepFM, xDeepFM, AFN, AutoInt,
DCNv2) on MovieLens-1M, beside the paper's numbers: the tables runner's `id_models` table.

    python benchmarks/id_models.py                 # ~1 h on 2 CPU cores; resumable
    python benchmarks/id_models.py --rows DCNv2    # one model

Each model's learning rate and epoch count are chosen on the validation split (the last 10% of train
in time order); the test split is read once. Results:
benchmarks/results/tableid_models_movielens-1m_ml1m_id_<device>.{md,json,png}.
(The earlier id_models_ml1m.{md,json} were made at commit e1cb772 with a fixed lr of 1e-3 and 2 epochs.)
"""

import sys

from flip_hf.paper_tables import main

if __name__ == "__main__":
    main(["--table", "id_models", "--profile", "ml1m_id", *sys.argv[1:]])
