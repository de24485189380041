"""AFM (Xiao et al., IJCAI'17): attentional factorization machine."""

from __future__ import annotations

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD
from .interactions import AttentionalPairwiseInteraction
from .layers import LinearTerm
from .registry import register_id_model


@register_id_model("afm")
class AFM(IDModelBase):
    """AFM: first-order term and attention-pooled pairwise element-wise products.

    `v = [linear (1) ; sum_ij a_ij (e_i * e_j) (D)]`, `output_dim = 1 + D` (33 with the
    defaults); `Linear(v)` is AFM's `w_0 + sum_i w_i x_i + p^T sum_ij a_ij (e_i * e_j)`. AFM
    has no DNN, hence no `mlp_hidden_sizes`; `dropout` applies to the attention weights.
    Needs `num_fields >= 2`.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        dropout: float = 0.0,
        attention_dim: int = 32,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        if self.num_fields < 2:
            raise ValueError("AFM needs num_fields >= 2 (pairwise interactions)")
        self.linear = LinearTerm(self.feature_vocab_size)
        self.interaction = AttentionalPairwiseInteraction(self.num_fields, self.embedding_dim, attention_dim, dropout)
        self.output_dim = 1 + self.interaction.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        return torch.cat([self.linear(feature_ids), self.interaction(emb)], dim=1)
