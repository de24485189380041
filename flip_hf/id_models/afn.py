"""AFN (Cheng et al., AAAI'20): adaptive factorization network."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .checks import check_sizes
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import LogarithmicTransformation
from .layers import MLP
from .registry import register_id_model


@register_id_model("afn")
class AFN(IDModelBase):
    """AFN: logarithmic transformation layer (learned arbitrary-order cross features)
    followed by a DNN.

    `v = DNN(LogTransform(emb))` where the log layer outputs `N*D` values
    (`logarithmic_neurons` N, default 256: the AFN paper used up to 1500; 256 keeps it
    CPU-friendly). `output_dim = mlp_hidden_sizes[-1]` (128 with defaults). AFN+ (the
    ensemble with a second DNN) is not included.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        logarithmic_neurons: int = 256,
        log_batch_norm: bool = True,
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        check_sizes("mlp_hidden_sizes", mlp_hidden_sizes, allow_empty=False)
        self.log_transform = LogarithmicTransformation(self.num_fields, logarithmic_neurons, batch_norm=log_batch_norm)
        self.dnn = MLP(
            self.log_transform.output_dim_for(self.embedding_dim),
            mlp_hidden_sizes,
            mlp_activation,
            dropout,
            mlp_batch_norm,
        )
        self.output_dim = self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        return self.dnn(self.log_transform(self.embed(feature_ids)))
