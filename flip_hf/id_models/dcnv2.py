"""DCN-V2 (Wang et al., WWW'21), the default ID model of the FLIP paper."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import CrossNetV2
from .layers import MLP
from .registry import register_id_model

_STRUCTURES = ("parallel", "stacked", "crossnet_only")


@register_id_model("dcnv2", "dcn_v2", "dcn2")
class DCNv2(IDModelBase):
    """DCN-V2 with the full-rank cross network.

    `x0` = flattened embeddings (`F*D`).

    * `structure="parallel"` (default): `v = [CrossNetV2(x0) ; DNN(x0)]`,
      `output_dim = F*D + mlp_hidden_sizes[-1]` (F=8, D=32: 256 + 128 = 384).
      `Linear(v)` is exactly DCN-V2's parallel prediction `w^T [x_L ; h_L] + b`.
    * `structure="stacked"`: `v = DNN(CrossNetV2(x0))`, `output_dim = 128`.
    * `structure="crossnet_only"`: `v = CrossNetV2(x0)`, `output_dim = F*D`; the DNN
      arguments (`mlp_hidden_sizes`, `dropout`, `mlp_activation`, `mlp_batch_norm`) are unused.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        num_cross_layers: int = 3,
        structure: str = "parallel",
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        if structure not in _STRUCTURES:
            raise ValueError(f"DCNv2 structure must be one of {_STRUCTURES}, got {structure!r}")
        self.structure = structure
        self.cross = CrossNetV2(self.flat_embedding_dim, num_cross_layers)
        self.dnn = None
        if structure != "crossnet_only":
            self.dnn = MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm)
        if structure == "parallel":
            self.output_dim = self.cross.output_dim + self.dnn.output_dim
        elif structure == "stacked":
            self.output_dim = self.dnn.output_dim
        else:
            self.output_dim = self.cross.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        x0 = self.embed(feature_ids).flatten(1)
        if self.structure == "parallel":
            return torch.cat([self.cross(x0), self.dnn(x0)], dim=1)
        if self.structure == "stacked":
            return self.dnn(self.cross(x0))
        return self.cross(x0)
