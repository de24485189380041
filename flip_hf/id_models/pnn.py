"""PNN (Qu et al., ICDM'16), inner-product variant (IPNN)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .checks import check_sizes
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import InnerProductLayer
from .layers import MLP
from .registry import register_id_model


@register_id_model("pnn", "ipnn")
class PNN(IDModelBase):
    """IPNN: DNN over `[flattened embeddings (F*D) ; pairwise inner products (F(F-1)/2)]`.

    The product layer's linear signal `l_z` and quadratic signal `l_p` are the first
    `Linear` of the MLP applied to that concatenation (the original formulation, with
    full-rank product weights). `v` = MLP output, `output_dim = mlp_hidden_sizes[-1]`
    (128 with defaults). Needs `num_fields >= 2`.
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
        if self.num_fields < 2:
            raise ValueError("PNN needs num_fields >= 2 (pairwise inner products)")
        check_sizes("mlp_hidden_sizes", mlp_hidden_sizes, allow_empty=False)  # the DNN is the model
        self.inner_product = InnerProductLayer(self.num_fields, output="inner_product")
        self.dnn = MLP(
            self.flat_embedding_dim + self.inner_product.num_pairs,
            mlp_hidden_sizes,
            mlp_activation,
            dropout,
            mlp_batch_norm,
        )
        self.output_dim = self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        return self.dnn(torch.cat([emb.flatten(1), self.inner_product(emb)], dim=1))
