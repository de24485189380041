"""Default hyperparameters of the ID-model zoo, shared by every model and by `FlipConfig`."""

from __future__ import annotations

__all__ = ["DEFAULT_EMBEDDING_DIM", "DEFAULT_MLP_HIDDEN_SIZES", "DEFAULT_EMBEDDING_INIT_STD"]

# FLIP paper Section V-A4: embedding size 32 and a DNN of [300, 300, 128] for every ID model.
DEFAULT_EMBEDDING_DIM = 32
DEFAULT_MLP_HIDDEN_SIZES = (300, 300, 128)
# Small enough to start near the paper's setting, large enough to keep log|e| (AFN) and the
# second-order terms (FM, AFM, PNN) well conditioned at initialisation.
DEFAULT_EMBEDDING_INIT_STD = 1e-2
