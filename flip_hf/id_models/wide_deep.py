"""Wide & Deep (Cheng et al., DLRS'16)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .layers import MLP, LinearTerm
from .registry import register_id_model


@register_id_model("wide_deep", "widedeep", "wide&deep", "wdl", "wide_and_deep")
class WideDeep(IDModelBase):
    """Wide & Deep: a linear (wide) part over the raw features plus a DNN.

    `v = [wide(x) (1) ; DNN(flat emb)]`, `output_dim = 1 + mlp_hidden_sizes[-1]`
    (129 with defaults). `Linear(v)` with weight 1 on the wide entry is the standard
    joint prediction `wide + w_deep^T h + b`.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        self.wide = LinearTerm(self.feature_vocab_size)
        self.dnn = MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm)
        self.output_dim = 1 + self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        return torch.cat([self.wide(feature_ids), self.dnn(emb.flatten(1))], dim=1)
