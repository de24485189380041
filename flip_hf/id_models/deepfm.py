"""DeepFM (Guo et al., IJCAI'17)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import FactorizationMachine
from .layers import MLP, LinearTerm
from .registry import register_id_model

_FM_OUTPUTS = ("vector", "scalar")


@register_id_model("deepfm")
class DeepFM(IDModelBase):
    """DeepFM: first-order term + FM second-order term + DNN, sharing the embeddings.

    `v = [first-order (1) ; FM (D if fm_output="vector" else 1) ; DNN(flat emb)]`.
    Default `fm_output="vector"`: the FM term is the D-vector
    `0.5*((sum e)^2 - sum e^2)` before its final sum, so `output_dim = 1 + D + 128`
    (161 with defaults). `Linear(v)` with weights 1 on the first two blocks reproduces
    the standard DeepFM logit exactly (and may also learn a per-dimension FM weighting);
    `fm_output="scalar"` gives `output_dim = 1 + 1 + 128`.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        fm_output: str = "vector",
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        if fm_output not in _FM_OUTPUTS:
            raise ValueError(f"DeepFM fm_output must be one of {_FM_OUTPUTS}, got {fm_output!r}")
        self.first_order = LinearTerm(self.feature_vocab_size)
        self.fm = FactorizationMachine(reduce_sum=(fm_output == "scalar"))
        self.dnn = MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm)
        fm_dim = 1 if fm_output == "scalar" else self.embedding_dim
        self.output_dim = 1 + fm_dim + self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        return torch.cat([self.first_order(feature_ids), self.fm(emb), self.dnn(emb.flatten(1))], dim=1)
