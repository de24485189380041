#!/usr/bin/env python
"""The main job (`make demo`): FLIP end to end on the embedded MovieLens-100K (quick CPU profile).

python examples/run_demo.py                    # quick profile: ~7 min on 2 idle CPU cores
python examples/run_demo.py --profile paper    # the paper's hyperparameters (GPU)
"""

import sys

from flip_hf.demo import main

if __name__ == "__main__":
    sys.exit(0 if main() else 1)
