"""Generic building blocks of the ID-model zoo: activations, the feature embedding, the
first-order term and the DNN tower.

Conventions: `B` batch size, `F` number of fields, `D` embedding size. Feature ids index one
global feature-id space of size `M` (`feature_vocab_size`): id 0 is padding, id 1 the shared
`<MASK>` id, then every field's unknown id and value ids. Every id, mask and padding
included, is an ordinary trainable embedding row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_dropout, check_int, check_sizes
from .defaults import DEFAULT_EMBEDDING_INIT_STD, DEFAULT_MLP_HIDDEN_SIZES

__all__ = ["get_activation", "FeatureEmbedding", "LinearTerm", "MLP"]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "identity": nn.Identity,
    "linear": nn.Identity,
    "none": nn.Identity,
}


def get_activation(activation: str | nn.Module | type[nn.Module] | None) -> nn.Module:
    """An activation module from a name (`"relu"`), a module, a module class or `None` (identity).

    A name or a class gives a fresh module; a module instance is returned as is.
    """
    if activation is None:
        return nn.Identity()
    if isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower().replace("-", "_")
        if key not in _ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; known: {sorted(_ACTIVATIONS)}")
        return _ACTIVATIONS[key]()
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation()
    raise TypeError(f"activation must be a name, an nn.Module or None, got {activation!r}")


class FeatureEmbedding(nn.Embedding):
    """One embedding table over the global feature-id space: `(B, F) -> (B, F, D)`.

    No `padding_idx`: the padding id (0) and the `<MASK>` id (1) are ordinary, trainable
    rows. Initialised `normal(0, init_std)`.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float = DEFAULT_EMBEDDING_INIT_STD):
        self.init_std = float(init_std)  # read by reset_parameters, which nn.Embedding.__init__ calls
        super().__init__(num_embeddings, embedding_dim)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.normal_(self.weight, mean=0.0, std=self.init_std)


class LinearTerm(nn.Module):
    """First-order (logistic-regression) term `sum_f w[x_f] + b`: `(B, F) -> (B, 1)`.

    A dimension-1 weight over the feature space of its own, initialised to zero.
    """

    def __init__(self, feature_vocab_size: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(feature_vocab_size, 1))
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.zero_()
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        out = F.embedding(feature_ids, self.weight).sum(dim=1)
        if self.bias is not None:
            out = out + self.bias
        return out


class MLP(nn.Module):
    """Feed-forward tower `[Linear -> (BatchNorm1d) -> activation -> (Dropout)] * n`.

    `output_dim` is the last hidden size, or `input_dim` when `hidden_sizes` is empty (the
    tower is then the identity). `output_size` appends a plain `Linear(last_hidden,
    output_size)` without activation. `batch_norm=True` makes the tower depend on batch
    statistics in training mode.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        activation: str | nn.Module | type[nn.Module] | None = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        output_size: int | None = None,
    ):
        super().__init__()
        input_dim = check_int("input_dim", input_dim, 1)
        hidden_sizes = check_sizes("mlp_hidden_sizes", hidden_sizes)
        dropout = check_dropout(dropout)
        layers = []
        prev = input_dim
        for size in hidden_sizes:
            layers.append(nn.Linear(prev, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(get_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = size
        if output_size is not None:
            output_size = check_int("output_size", output_size, 1)
            layers.append(nn.Linear(prev, output_size))
            prev = output_size
        self.net = nn.Sequential(*layers)
        self.input_dim = input_dim
        self.output_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
