"""xDeepFM (Lian et al., KDD'18)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import CompressedInteractionNetwork
from .layers import MLP, LinearTerm
from .registry import register_id_model


@register_id_model("xdeepfm", "cin")
class XDeepFM(IDModelBase):
    """xDeepFM: linear term + Compressed Interaction Network + DNN.

    `v = [linear (1) ; CIN sum-pooled feature maps ; DNN]`. Defaults: CIN
    `[128, 128]`, ReLU, `cin_split_half=True` (as the official implementation), so the
    CIN gives 64 + 128 = 192 pooled maps and `output_dim = 1 + 192 + 128 = 321`
    (`cin_split_half=False`: 1 + 256 + 128 = 385, about 2x slower). `Linear(v)` is the
    standard xDeepFM output unit `w_lin*a + w_cin^T p^+ + w_dnn^T x^k + b`.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        cin_layer_sizes: Sequence[int] = (128, 128),
        cin_activation: str = "relu",
        cin_split_half: bool = True,
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        self.linear = LinearTerm(self.feature_vocab_size)
        self.cin = CompressedInteractionNetwork(self.num_fields, cin_layer_sizes, cin_activation, cin_split_half)
        self.dnn = MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm)
        self.output_dim = 1 + self.cin.output_dim + self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        return torch.cat([self.linear(feature_ids), self.cin(emb), self.dnn(emb.flatten(1))], dim=1)
