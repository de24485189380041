"""Feature-interaction layers of the ID-model zoo: cross networks (DCN, DCN-V2),
factorisation-style products (FM, PNN, AFM), the CIN (xDeepFM), self-attention (AutoInt)
and the logarithmic transformation (AFN).

Shapes use `B` batch size, `F` number of fields and `D` embedding size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_dropout, check_int, check_sizes
from .layers import get_activation

__all__ = [
    "CrossNet",
    "CrossNetV2",
    "FactorizationMachine",
    "InnerProductLayer",
    "AttentionalPairwiseInteraction",
    "CompressedInteractionNetwork",
    "MultiHeadSelfAttention",
    "InteractingLayers",
    "LogarithmicTransformation",
]


class CrossNet(nn.Module):
    """DCN cross network (Wang et al., ADKDD'17): `x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l`.

    Input and output `(B, input_dim)`; `w_l` is a vector, so each layer has `2 * input_dim`
    parameters.
    """

    def __init__(self, input_dim: int, num_layers: int = 3):
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, 1)
        self.num_layers = check_int("num_cross_layers", num_layers, 1)
        self.weight = nn.Parameter(torch.empty(self.num_layers, self.input_dim))
        self.bias = nn.Parameter(torch.empty(self.num_layers, self.input_dim))
        self.output_dim = self.input_dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.input_dim)
        with torch.no_grad():
            nn.init.uniform_(self.weight, -bound, bound)
            self.bias.zero_()

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in range(self.num_layers):
            x = x0 * (x @ self.weight[layer]).unsqueeze(-1) + self.bias[layer] + x
        return x


class CrossNetV2(nn.Module):
    """DCN-V2 full-rank cross network (Wang et al., WWW'21): `x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`."""

    def __init__(self, input_dim: int, num_layers: int = 3):
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, 1)
        self.num_layers = check_int("num_cross_layers", num_layers, 1)
        self.layers = nn.ModuleList(nn.Linear(self.input_dim, self.input_dim) for _ in range(self.num_layers))
        self.output_dim = self.input_dim

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


class FactorizationMachine(nn.Module):
    """FM second-order term `sum_{i<j} <e_i, e_j>` of `(B, F, D)` embeddings (Rendle, ICDM'10).

    Computed in O(F*D) as `0.5 * ((sum_f e_f)^2 - sum_f e_f^2)`: the scalar `(B, 1)`, or with
    `reduce_sum=False` the D-vector before the final sum, `(B, D)`.
    """

    def __init__(self, reduce_sum: bool = True):
        super().__init__()
        self.reduce_sum = bool(reduce_sum)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        out = 0.5 * (emb.sum(dim=1).pow(2) - emb.pow(2).sum(dim=1))
        if self.reduce_sum:
            out = out.sum(dim=1, keepdim=True)
        return out


class InnerProductLayer(nn.Module):
    """Interactions of all field pairs `i < j` (`P = F(F-1)/2` pairs, row-major order).

    `output="inner_product"` gives `<e_i, e_j>`, `(B, P)` (PNN); `output="elementwise_product"`
    gives `e_i * e_j`, `(B, P, D)` (AFM). The pair indices are non-persistent buffers,
    rebuilt from `num_fields` and never saved in a checkpoint.
    """

    _OUTPUTS = ("inner_product", "elementwise_product")

    def __init__(self, num_fields: int, output: str = "inner_product"):
        super().__init__()
        self.num_fields = check_int("num_fields", num_fields, 2)
        if output not in self._OUTPUTS:
            raise ValueError(f"output must be one of {self._OUTPUTS}, got {output!r}")
        self.output = output
        row, col = torch.triu_indices(self.num_fields, self.num_fields, offset=1)
        self.register_buffer("row", row.clone(), persistent=False)
        self.register_buffer("col", col.clone(), persistent=False)
        self.num_pairs = int(row.numel())

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        if self.output == "inner_product":
            return torch.bmm(emb, emb.transpose(1, 2))[:, self.row, self.col]
        return emb[:, self.row] * emb[:, self.col]


class AttentionalPairwiseInteraction(nn.Module):
    """AFM's attention pooling of pairwise interactions (Xiao et al., IJCAI'17): `(B, F, D) -> (B, D)`.

    `a_ij = softmax_ij(h^T ReLU(W (e_i * e_j) + b))`, output `sum_ij a_ij (e_i * e_j)`;
    `dropout` applies to the attention weights.
    """

    def __init__(self, num_fields: int, embedding_dim: int, attention_dim: int = 32, dropout: float = 0.0):
        super().__init__()
        self.pairwise = InnerProductLayer(num_fields, output="elementwise_product")
        embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        attention_dim = check_int("attention_dim", attention_dim, 1)
        self.attention = nn.Sequential(
            nn.Linear(embedding_dim, attention_dim),
            nn.ReLU(),
            nn.Linear(attention_dim, 1, bias=False),
        )
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.output_dim = embedding_dim

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        pairs = self.pairwise(emb)  # (B, P, D)
        weights = self.dropout(torch.softmax(self.attention(pairs), dim=1))  # (B, P, 1)
        return (weights * pairs).sum(dim=1)


class CompressedInteractionNetwork(nn.Module):
    """xDeepFM's Compressed Interaction Network (Lian et al., KDD'18).

    `X^k_h = act(sum_{i,j} W^{k,h}_{i,j} (X^{k-1}_i * X^0_j) + b^k_h)` with `X^0` the
    `(B, F, D)` embeddings; every layer's feature maps are sum-pooled over `D` and the pooled
    maps concatenated into `(B, output_dim)`.

    `split_half=True` (as the official xDeepFM implementation): every layer but the last
    sends half of its maps to the output and half to the next layer, so
    `output_dim = sum(size // 2 for non-last layers) + last size` and the non-last sizes must
    be even. `split_half=False`: every map feeds both, `output_dim = sum(layer_sizes)`.

    The paper's 1x1 convolution is one matrix product per layer,
    `W (H_k, H_{k-1} * F) @ Z (H_{k-1} * F, B * D)`, with the state kept as `(maps, B * D)`.
    """

    def __init__(
        self,
        num_fields: int,
        layer_sizes: Sequence[int] = (128, 128),
        activation: str | nn.Module | type[nn.Module] | None = "relu",
        split_half: bool = True,
    ):
        super().__init__()
        self.num_fields = check_int("num_fields", num_fields, 1)
        self.layer_sizes = check_sizes("cin_layer_sizes", layer_sizes, allow_empty=False)
        self.split_half = bool(split_half)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        prev = self.num_fields
        output_dim = 0
        for i, size in enumerate(self.layer_sizes):
            halve = self.split_half and i < len(self.layer_sizes) - 1
            if halve and size % 2:
                raise ValueError(
                    f"cin_layer_sizes must be even (except the last) with split_half=True, got {self.layer_sizes}"
                )
            self.weights.append(nn.Parameter(torch.empty(size, prev * self.num_fields)))
            self.biases.append(nn.Parameter(torch.empty(size, 1)))
            prev = size // 2 if halve else size
            output_dim += size - size // 2 if halve else size
        self.activation = get_activation(activation)
        self.output_dim = output_dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of `Conv1d(kernel_size=1)`."""
        with torch.no_grad():
            for w, b in zip(self.weights, self.biases):
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))
                bound = 1.0 / math.sqrt(w.shape[1])
                nn.init.uniform_(b, -bound, bound)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        batch, fields, dim = x0.shape
        y0 = x0.permute(1, 0, 2).reshape(fields, batch * dim)  # (F, B*D)
        y = y0
        pooled = []
        last = len(self.layer_sizes) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = (y.unsqueeze(1) * y0.unsqueeze(0)).reshape(-1, batch * dim)  # (H*F, B*D)
            out = self.activation(torch.addmm(b, w, z))  # (H_k, B*D)
            if self.split_half and i != last:
                y, direct = out.split(out.shape[0] // 2, dim=0)
            else:
                y = direct = out
            pooled.append(direct.view(-1, batch, dim).sum(dim=2))  # (maps, B)
        return torch.cat(pooled, dim=0).t()


class MultiHeadSelfAttention(nn.Module):
    """AutoInt's interacting layer (Song et al., CIKM'19): multi-head self-attention over fields.

    `(B, F, input_dim) -> (B, F, num_heads * attention_dim)`, `out = ReLU(MHSA(x) + W_res x)`
    (`W_res` only with `use_residual`), optionally followed by a LayerNorm. `scale=True`
    divides the logits by `sqrt(attention_dim)`, the Transformer convention, more stable with
    larger attention sizes than the paper's unscaled logits (`scale=False`).
    """

    def __init__(
        self,
        input_dim: int,
        attention_dim: int = 32,
        num_heads: int = 2,
        use_residual: bool = True,
        scale: bool = True,
        layer_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.input_dim = check_int("input_dim", input_dim, 1)
        self.attention_dim = check_int("attention_dim", attention_dim, 1)
        self.num_heads = check_int("num_heads", num_heads, 1)
        inner = self.attention_dim * self.num_heads
        self.qkv = nn.Linear(self.input_dim, 3 * inner, bias=False)
        self.residual = nn.Linear(self.input_dim, inner, bias=False) if use_residual else None
        self.layer_norm = nn.LayerNorm(inner) if layer_norm else None
        self.scale = bool(scale)
        self.dropout = check_dropout(dropout, "attention_dropout")
        self.output_dim = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, fields, _ = x.shape
        qkv = self.qkv(x).view(batch, fields, 3, self.num_heads, self.attention_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, F, A)
        attn = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, scale=None if self.scale else 1.0
        )
        out = attn.transpose(1, 2).reshape(batch, fields, self.output_dim)
        if self.residual is not None:
            out = out + self.residual(x)
        out = torch.relu(out)
        if self.layer_norm is not None:
            out = self.layer_norm(out)
        return out


class InteractingLayers(nn.Module):
    """A stack of `MultiHeadSelfAttention` layers; `output_dim` is the size per field."""

    def __init__(
        self,
        input_dim: int,
        num_layers: int = 3,
        attention_dim: int = 32,
        num_heads: int = 2,
        use_residual: bool = True,
        scale: bool = True,
        layer_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        num_layers = check_int("num_attention_layers", num_layers, 1)
        layers = []
        prev = input_dim
        for _ in range(num_layers):
            layers.append(
                MultiHeadSelfAttention(prev, attention_dim, num_heads, use_residual, scale, layer_norm, dropout)
            )
            prev = layers[-1].output_dim
        self.layers = nn.Sequential(*layers)
        self.output_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class LogarithmicTransformation(nn.Module):
    """AFN's logarithmic transformation layer (Cheng et al., AAAI'20): `(B, F, D) -> (B, D * N)`.

    Each of the `N` logarithmic neurons computes, per embedding dimension,
    `exp(sum_f w_{n,f} log|e_f|) = prod_f |e_f|^{w_{n,f}}`, a cross feature of learned,
    arbitrary order. `|e|` is clamped at `eps` before the log, and the exponent at
    `max_exponent` (a guard against overflow, far above the values of normal training). As in
    the AFN reference implementation, `batch_norm=True` adds batch norms after the log and
    after the exp, which make the layer depend on batch statistics in training mode.
    """

    def __init__(
        self,
        num_fields: int,
        num_neurons: int = 256,
        eps: float = 1e-7,
        batch_norm: bool = True,
        max_exponent: float = 40.0,
    ):
        super().__init__()
        self.num_fields = check_int("num_fields", num_fields, 1)
        self.num_neurons = check_int("logarithmic_neurons", num_neurons, 1)
        self.eps = float(eps)
        self.max_exponent = float(max_exponent)
        self.coefficients = nn.Linear(self.num_fields, self.num_neurons, bias=False)
        self.log_norm = nn.BatchNorm1d(self.num_fields) if batch_norm else None
        self.exp_norm = nn.BatchNorm1d(self.num_neurons) if batch_norm else None

    def output_dim_for(self, embedding_dim: int) -> int:
        return self.num_neurons * embedding_dim

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        batch, _, dim = emb.shape
        log_emb = torch.log(emb.abs().clamp_min(self.eps))  # (B, F, D)
        if self.log_norm is not None:
            log_emb = self.log_norm(log_emb)  # statistics per field, over B and D
        out = torch.exp(self.coefficients(log_emb.transpose(1, 2)).clamp(max=self.max_exponent))  # (B, D, N)
        if self.exp_norm is not None:
            out = self.exp_norm(out.reshape(batch * dim, self.num_neurons))  # statistics per neuron
        # (D, N) order: a fixed permutation of the paper's (N, D), immaterial to the DNN that
        # follows, and without a transposed copy
        return out.reshape(batch, dim * self.num_neurons)
