#!/usr/bin/env python
"""The statistics of the MovieLens-1M evidence (it trains nothing: it reads the tables runner's
finished rows and their saved test predictions):

    python benchmarks/paper_tables.py --table evidence --profile ml1m_cpu --data_dir ../shared/data/ml-1m
    python benchmarks/evidence_report.py --table evidence --profile ml1m_cpu --data_dir ../shared/data/ml-1m

Writes benchmarks/results/evidence_<table>_<dataset>_<profile>.{md,json,png}: per-row AUC and gAUC,
and each paired difference with a 95% hierarchical bootstrap interval (test users, pretraining runs,
finetuning seeds) and DeLong's test per same-seed pair.
"""

from flip_hf.paper_tables.evidence import main

if __name__ == "__main__":
    main()
