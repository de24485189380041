#!/usr/bin/env python
"""The paper's tables, measured: one command per table (paper Section V, Tables II, III and VII).

    python benchmarks/paper_tables.py --table 2 --profile cpu     # full MovieLens-100K, 2 CPU cores
    python benchmarks/paper_tables.py --table 2 --profile gpu     # MovieLens-1M, one GPU call at a time
    python benchmarks/paper_tables.py --table 7 --profile cpu --rows FLIP "w/o ICL"

Learning rates and epochs are chosen on the validation split (the end of train); the test split is
read once per row and seed. Results: benchmarks/results/table{N}_<dataset>_<profile>_<device>.{md,json,png};
a rerun skips the rows already in --work_dir.
"""

from flip_hf.paper_tables import main

if __name__ == "__main__":
    main()
