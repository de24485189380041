"""AutoInt (Song et al., CIKM'19): self-attentive feature interactions."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import IDModelBase
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES
from .interactions import InteractingLayers
from .layers import MLP
from .registry import register_id_model


@register_id_model("autoint", "auto_int")
class AutoInt(IDModelBase):
    """AutoInt: stacked multi-head self-attention (interacting) layers with residuals.

    `v = flatten(InteractingLayers(emb))`: `F * num_heads * attention_dim` values
    (defaults 3 layers, 2 heads, attention_dim 32 per head -> F*64; F=8: 512).
    `Linear(v)` is AutoInt's output layer. With `use_dnn=True` (AutoInt+, off by
    default) `v = [flatten(att) ; DNN(flat emb)]` and `output_dim` grows by
    `mlp_hidden_sizes[-1]`; without it the DNN arguments (`mlp_hidden_sizes`, `dropout`,
    `mlp_activation`, `mlp_batch_norm`) are unused. Attention logits are scaled by
    `1/sqrt(attention_dim)` unless `attention_scale=False` (the paper's unscaled form).
    `attention_dropout` applies to the attention weights.
    """

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        mlp_hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        dropout: float = 0.0,
        num_attention_layers: int = 3,
        num_heads: int = 2,
        attention_dim: int = 32,
        use_residual: bool = True,
        attention_scale: bool = True,
        attention_layer_norm: bool = False,
        attention_dropout: float = 0.0,
        use_dnn: bool = False,
        mlp_activation: str = "relu",
        mlp_batch_norm: bool = False,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__(num_fields, feature_vocab_size, embedding_dim, embedding_init_std)
        self.interacting = InteractingLayers(
            self.embedding_dim,
            num_attention_layers,
            attention_dim,
            num_heads,
            use_residual,
            attention_scale,
            attention_layer_norm,
            attention_dropout,
        )
        self.dnn = (
            MLP(self.flat_embedding_dim, mlp_hidden_sizes, mlp_activation, dropout, mlp_batch_norm) if use_dnn else None
        )
        self.output_dim = self.num_fields * self.interacting.output_dim
        if self.dnn is not None:
            self.output_dim += self.dnn.output_dim

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        emb = self.embed(feature_ids)
        out = self.interacting(emb).flatten(1)
        if self.dnn is not None:
            out = torch.cat([out, self.dnn(emb.flatten(1))], dim=1)
        return out
