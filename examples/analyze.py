#!/usr/bin/env python
"""Pictures of what alignment does (paper Fig. 2/8 and 9) for one or more checkpoints.

    python examples/analyze.py --checkpoint none=runs/dcnv2 ctrl=runs/pretrain_ctrl flip=runs/pretrain

Writes, into --output_dir: the singular-value spectra of the ID embedding table and of both sides'
sample representations on held-out rows (one line per checkpoint; effective ranks in analysis.json),
the field-correspondence heat map of each pretraining checkpoint with its diagonal hit rate, and the
training-loss curves.
"""

from flip_hf.analysis.report import main

if __name__ == "__main__":
    main()
