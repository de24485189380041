"""DCN (Wang et al., ADKDD'17): deep & cross network."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import CrossNet
from .layers import MLP
from .registry import register_id_model


@register_id_model("dcn", "dcn_v1", "deep_cross")
class DCN(IDModelBase):
    """DCN (v1): cross network with vector weights in parallel with a DNN.

    `x0` = flattened embeddings; `v = [CrossNet(x0) ; DNN(x0)]` (the original
    combination layer's input), `output_dim = F*D + mlp_hidden_sizes[-1]`
    (F=8, D=32: 256 + 128 = 384).
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        num_cross_layers: int = 3,
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        self.cross = CrossNet(self.flat_embedding_dim, num_cross_layers)
        self.dnn = MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm)
        self.output_dim = self.cross.output_dim + self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        x0 = self.embed(feature_ids).flatten(1)
        return torch.cat([self.cross(x0), self.dnn(x0)], dim=1)
