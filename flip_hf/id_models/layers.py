"""Shared building blocks of the ID-based CTR model zoo.

Every layer that more than one model needs lives here, exactly once. The models in this
package (``afm.py`` ... ``dcnv2.py``) only wire these blocks together.

Conventions
-----------
* ``B`` batch size, ``F`` number of fields, ``D`` embedding size.
* Feature ids index ONE global feature-id space of size ``M`` (``feature_vocab_size``).
  Id 0 is padding, id 1 the shared ``<MASK>`` id, then every field's unknown id and value
  ids. The layers treat every id (mask and padding included) as an ordinary embedding row.
* Every layer with parameters has ``reset_parameters()``; :meth:`IDModelBase.init_weights`
  calls them all, so re-initialisation is a single call.
"""

from __future__ import annotations

import functools
import inspect
import math
import operator
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "DEFAULT_MLP_HIDDEN_SIZES",
    "DEFAULT_EMBEDDING_INIT_STD",
    "get_activation",
    "FeatureEmbedding",
    "LinearTerm",
    "MLP",
    "CrossNet",
    "CrossNetV2",
    "FactorizationMachine",
    "CompressedInteractionNetwork",
    "MultiHeadSelfAttention",
    "InteractingLayers",
    "LogarithmicTransformation",
    "InnerProductLayer",
    "AttentionalPairwiseInteraction",
    "IDModelBase",
]

# Paper defaults (FLIP, Section V-A4): embedding size 32, DNN [300, 300, 128], ReLU.
DEFAULT_EMBEDDING_DIM = 32
DEFAULT_MLP_HIDDEN_SIZES = (300, 300, 128)
# FuxiCTR uses normal(std=1e-4). We use 1e-2: still small, but it keeps log|e| (AFN) and
# the second-order terms (FM/AFM/PNN) in a well-conditioned range at initialisation.
DEFAULT_EMBEDDING_INIT_STD = 1e-2


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
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


def get_activation(activation: str | nn.Module | Callable[[], nn.Module] | None) -> nn.Module:
    """Return a fresh activation module from a name (``"relu"``), a module class or ``None``."""
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


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        value = operator.index(value)  # int, numpy integer, 0-d int tensor
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_sizes(name: str, sizes, allow_empty: bool = True) -> tuple:
    if isinstance(sizes, int):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {sizes!r}") from None
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return tuple(_check_int(f"{name}[{i}]", s, 1) for i, s in enumerate(sizes))


def _check_dropout(value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {value}")
    return value


def _pair_indices(num_fields: int) -> tuple:
    """Row/column indices of all field pairs i < j (deterministic, torch.triu_indices)."""
    idx = torch.triu_indices(num_fields, num_fields, offset=1)
    return idx[0].clone(), idx[1].clone()


# --------------------------------------------------------------------------------------
# embeddings / first order
# --------------------------------------------------------------------------------------
class FeatureEmbedding(nn.Embedding):
    """One embedding table over the global feature-id space: ``(B, F) -> (B, F, D)``.

    No ``padding_idx``: the padding id (0) and the shared ``<MASK>`` id (1) are ordinary,
    trainable rows. Initialised ``normal(0, init_std)``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float = DEFAULT_EMBEDDING_INIT_STD):
        super().__init__(num_embeddings, embedding_dim)
        self.init_std = float(init_std)
        self.reset_parameters()

    def reset_parameters(self) -> None:  # called by nn.Embedding.__init__ as well
        std = getattr(self, "init_std", DEFAULT_EMBEDDING_INIT_STD)
        with torch.no_grad():
            nn.init.normal_(self.weight, mean=0.0, std=std)


class LinearTerm(nn.Module):
    """First-order (logistic-regression) term: ``sum_f w[x_f] + b`` -> ``(B, 1)``.

    Its own dimension-1 weight over the feature space (a plain parameter used through
    ``F.embedding``), initialised to zero.
    """

    def __init__(self, feature_vocab_size: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(feature_vocab_size, 1))
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.zero_()
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:
        out = F.embedding(feature_ids, self.weight).sum(dim=1)  # (B, 1)
        if self.bias is not None:
            out = out + self.bias
        return out


# --------------------------------------------------------------------------------------
# DNN
# --------------------------------------------------------------------------------------
class MLP(nn.Module):
    """Feed-forward tower: ``[Linear -> (BatchNorm) -> activation -> (Dropout)] * n``.

    ``output_dim`` is the last hidden size (``input_dim`` when ``hidden_sizes`` is empty,
    in which case the module is the identity). If ``output_size`` is given a final plain
    ``Linear(last_hidden, output_size)`` (no activation) is appended.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_sizes: Sequence[int] = DEFAULT_MLP_HIDDEN_SIZES,
        activation="relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        output_size: int | None = None,
    ):
        super().__init__()
        input_dim = _check_int("input_dim", input_dim, 1)
        hidden_sizes = _check_sizes("mlp_hidden_sizes", hidden_sizes)
        dropout = _check_dropout(dropout)
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
            layers.append(nn.Linear(prev, _check_int("output_size", output_size, 1)))
            prev = output_size
        self.net = nn.Sequential(*layers)
        self.input_dim = input_dim
        self.output_dim = prev

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------------------
# explicit crossing
# --------------------------------------------------------------------------------------
class CrossNet(nn.Module):
    """DCN (v1) cross network: ``x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l``.

    Input/output ``(B, input_dim)``; ``w_l`` is a vector, so every layer adds ``2*input_dim``
    parameters.
    """

    def __init__(self, input_dim: int, num_layers: int = 3):
        super().__init__()
        self.input_dim = _check_int("input_dim", input_dim, 1)
        self.num_layers = _check_int("num_cross_layers", num_layers, 1)
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
            xw = x @ self.weight[layer]  # (B,)
            x = x0 * xw.unsqueeze(-1) + self.bias[layer] + x
        return x


class CrossNetV2(nn.Module):
    """DCN-V2 full-rank cross network: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``."""

    def __init__(self, input_dim: int, num_layers: int = 3):
        super().__init__()
        self.input_dim = _check_int("input_dim", input_dim, 1)
        self.num_layers = _check_int("num_cross_layers", num_layers, 1)
        self.layers = nn.ModuleList(nn.Linear(self.input_dim, self.input_dim) for _ in range(self.num_layers))
        self.output_dim = self.input_dim

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


# --------------------------------------------------------------------------------------
# factorisation-style interactions
# --------------------------------------------------------------------------------------
class FactorizationMachine(nn.Module):
    """FM second-order term ``sum_{i<j} <e_i, e_j>`` of ``(B, F, D)`` embeddings.

    Computed in O(F*D) as ``0.5 * ((sum_f e_f)^2 - sum_f e_f^2)``. With
    ``reduce_sum=False`` the D-vector before the final sum is returned, ``(B, D)``;
    otherwise the scalar, ``(B, 1)``.
    """

    def __init__(self, reduce_sum: bool = True):
        super().__init__()
        self.reduce_sum = bool(reduce_sum)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        square_of_sum = emb.sum(dim=1).pow(2)
        sum_of_square = emb.pow(2).sum(dim=1)
        out = 0.5 * (square_of_sum - sum_of_square)  # (B, D)
        if self.reduce_sum:
            out = out.sum(dim=1, keepdim=True)
        return out


class InnerProductLayer(nn.Module):
    """Pairwise field interactions over all pairs ``i < j`` (``P = F(F-1)/2``).

    ``output="inner_product"``      -> ``(B, P)``     ``<e_i, e_j>`` (PNN / IPNN)
    ``output="elementwise_product"`` -> ``(B, P, D)``  ``e_i * e_j``  (AFM)

    The pair indices come from ``torch.triu_indices`` and are kept as
    ``persistent=False`` buffers: they are rebuilt deterministically in ``__init__`` from
    ``num_fields`` alone, so they never need to be saved in a checkpoint.
    """

    _OUTPUTS = ("inner_product", "elementwise_product")

    def __init__(self, num_fields: int, output: str = "inner_product"):
        super().__init__()
        self.num_fields = _check_int("num_fields", num_fields, 2)
        if output not in self._OUTPUTS:
            raise ValueError(f"output must be one of {self._OUTPUTS}, got {output!r}")
        self.output = output
        row, col = _pair_indices(self.num_fields)
        self.register_buffer("row", row, persistent=False)
        self.register_buffer("col", col, persistent=False)
        self.num_pairs = int(row.numel())

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        if self.output == "inner_product":
            gram = torch.bmm(emb, emb.transpose(1, 2))  # (B, F, F)
            return gram[:, self.row, self.col]  # (B, P)
        return emb[:, self.row] * emb[:, self.col]  # (B, P, D)


class AttentionalPairwiseInteraction(nn.Module):
    """AFM's attention-based pooling of pairwise interactions: ``(B, F, D) -> (B, D)``.

    ``a_ij = softmax_ij(h^T ReLU(W (e_i*e_j) + b))`` and the output is
    ``sum_ij a_ij (e_i*e_j)`` (the vector AFM then projects with ``p``).
    """

    def __init__(self, num_fields: int, embedding_dim: int, attention_dim: int = 32, dropout: float = 0.0):
        super().__init__()
        self.pairwise = InnerProductLayer(num_fields, output="elementwise_product")
        embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
        attention_dim = _check_int("attention_dim", attention_dim, 1)
        self.attention = nn.Sequential(
            nn.Linear(embedding_dim, attention_dim),
            nn.ReLU(),
            nn.Linear(attention_dim, 1, bias=False),
        )
        self.dropout = nn.Dropout(_check_dropout(dropout))
        self.output_dim = embedding_dim

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        pairs = self.pairwise(emb)  # (B, P, D)
        weights = torch.softmax(self.attention(pairs), dim=1)  # (B, P, 1)
        weights = self.dropout(weights)
        return (weights * pairs).sum(dim=1)  # (B, D)


class CompressedInteractionNetwork(nn.Module):
    """xDeepFM's CIN.

    ``X^k_{h,:} = act(sum_{i,j} W^{k,h}_{i,j} (X^{k-1}_{i,:} * X^0_{j,:}) + b^k_h)`` with
    ``X^0`` the ``(B, F, D)`` embeddings. Feature maps are sum-pooled over ``D`` and the
    pooled maps are concatenated, output ``(B, output_dim)``.

    ``split_half=True`` (the official xDeepFM / DeepCTR default): every layer but the last
    sends half of its maps to the output and half to the next layer, so
    ``output_dim = sum(size // 2 for non-last layers) + last size`` and the next layer is
    half as expensive; non-last sizes must then be even. ``split_half=False``: every map
    feeds both, ``output_dim = sum(layer_sizes)``.

    Implementation: the 1x1 convolution of the paper is one GEMM per layer,
    ``W (H_k, H_{k-1}*F) @ Z (H_{k-1}*F, B*D)``, with the state kept in a
    ``(maps, B*D)`` layout (one large matrix product instead of B small ones).
    """

    def __init__(
        self, num_fields: int, layer_sizes: Sequence[int] = (128, 128), activation="relu", split_half: bool = True
    ):
        super().__init__()
        self.num_fields = _check_int("num_fields", num_fields, 1)
        self.layer_sizes = _check_sizes("cin_layer_sizes", layer_sizes, allow_empty=False)
        self.split_half = bool(split_half)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        prev = self.num_fields
        output_dim = 0
        for i, size in enumerate(self.layer_sizes):
            last = i == len(self.layer_sizes) - 1
            if self.split_half and not last and size % 2:
                raise ValueError(
                    f"cin_layer_sizes must be even (except the last) with split_half=True, got {self.layer_sizes}"
                )
            self.weights.append(nn.Parameter(torch.empty(size, prev * self.num_fields)))
            self.biases.append(nn.Parameter(torch.empty(size, 1)))
            passed = size // 2 if (self.split_half and not last) else size
            output_dim += size - passed if (self.split_half and not last) else size
            prev = passed
        self.activation = get_activation(activation)
        self.output_dim = output_dim
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for w, b in zip(self.weights, self.biases):  # same as Conv1d(kernel_size=1)
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
        return torch.cat(pooled, dim=0).t()  # (B, output_dim)


# --------------------------------------------------------------------------------------
# self-attention (AutoInt)
# --------------------------------------------------------------------------------------
class MultiHeadSelfAttention(nn.Module):
    """AutoInt interacting layer: multi-head self-attention over fields with residual.

    ``(B, F, input_dim) -> (B, F, num_heads * attention_dim)``:
    ``out = ReLU(MHSA(x) + W_res x)`` (``W_res`` only when ``use_residual``), with an
    optional LayerNorm afterwards. ``scale=True`` divides the logits by
    ``sqrt(attention_dim)`` (the AutoInt paper does not scale; scaling is the
    Transformer convention and is more stable with larger attention sizes).
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
        self.input_dim = _check_int("input_dim", input_dim, 1)
        self.attention_dim = _check_int("attention_dim", attention_dim, 1)
        self.num_heads = _check_int("num_heads", num_heads, 1)
        inner = self.attention_dim * self.num_heads
        self.qkv = nn.Linear(self.input_dim, 3 * inner, bias=False)
        self.residual = nn.Linear(self.input_dim, inner, bias=False) if use_residual else None
        self.layer_norm = nn.LayerNorm(inner) if layer_norm else None
        self.scale = bool(scale)
        self.dropout = _check_dropout(dropout)
        self.output_dim = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, fields, _ = x.shape
        q, k, v = (
            self.qkv(x).view(batch, fields, 3, self.num_heads, self.attention_dim).permute(2, 0, 3, 1, 4)
        )  # each (B, H, F, A)
        attn = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.dropout if self.training else 0.0,
            scale=None if self.scale else 1.0,
        )  # (B, H, F, A)
        out = attn.transpose(1, 2).reshape(batch, fields, self.output_dim)
        if self.residual is not None:
            out = out + self.residual(x)
        out = torch.relu(out)
        if self.layer_norm is not None:
            out = self.layer_norm(out)
        return out


class InteractingLayers(nn.Module):
    """A stack of :class:`MultiHeadSelfAttention` layers (AutoInt's interacting layers)."""

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
        num_layers = _check_int("num_attention_layers", num_layers, 1)
        layers = []
        prev = input_dim
        for _ in range(num_layers):
            layer = MultiHeadSelfAttention(prev, attention_dim, num_heads, use_residual, scale, layer_norm, dropout)
            layers.append(layer)
            prev = layer.output_dim
        self.layers = nn.Sequential(*layers)
        self.output_dim = prev  # per field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# --------------------------------------------------------------------------------------
# AFN
# --------------------------------------------------------------------------------------
class LogarithmicTransformation(nn.Module):
    """AFN's logarithmic neural transformation: ``(B, F, D) -> (B, D * N)``.

    Each of the ``N`` logarithmic neurons computes, per embedding dimension,
    ``exp(sum_f w_{n,f} * log|e_f|)`` = ``prod_f |e_f|^{w_{n,f}}`` (an arbitrary-order
    cross feature). ``|e|`` is clamped at ``eps`` before the log. As in the AFN reference
    implementation, optional batch norms follow the log and the exp. The exponent is
    clamped at ``max_exponent`` (only a guard against overflow to inf; it is far above
    the values seen in normal training).
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
        self.num_fields = _check_int("num_fields", num_fields, 1)
        self.num_neurons = _check_int("logarithmic_neurons", num_neurons, 1)
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
            log_emb = self.log_norm(log_emb)  # BatchNorm1d over the F channels
        exponent = self.coefficients(log_emb.transpose(1, 2))  # (B, D, N)
        out = torch.exp(exponent.clamp(max=self.max_exponent))
        if self.exp_norm is not None:  # per-neuron statistics over batch and D
            out = self.exp_norm(out.reshape(batch * dim, self.num_neurons))
        # flattened in (D, N) order: a fixed permutation of the paper's (N, D) order, which
        # is immaterial to the DNN that follows, and avoids a transposed copy
        return out.reshape(batch, dim * self.num_neurons)


# --------------------------------------------------------------------------------------
# base class of every ID model
# --------------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class IDModelBase(nn.Module):
    """Base of every ID-based CTR model.

    Interface (what FLIP and the CTR heads rely on)::

        model = SomeModel(num_fields, feature_vocab_size, embedding_dim=32,
                          mlp_hidden_sizes=(300, 300, 128), dropout=0.0, **specific)
        model.output_dim            # D_tab
        model(feature_ids)          # (B, F) int -> (B, output_dim): instance repr. v
        model.embed(feature_ids)    # (B, F, embedding_dim)
        model.init_weights()        # re-initialise every parameter
        model.get_config()          # the constructor arguments (JSON-friendly dict)

    ``v`` is the output of the feature-interaction layers, before any prediction layer;
    a caller-owned ``Linear(output_dim, 1)`` turns it into the logit.

    Subclasses get their constructor arguments recorded automatically (for
    :meth:`get_config`), and an unknown keyword argument raises a ``TypeError`` that
    names both the argument and the model.
    """

    model_name: str = ""  # set by registry.register_id_model

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        sig = inspect.signature(init)
        accepted = [p for p in sig.parameters if p != "self"]
        has_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())

        @functools.wraps(init)
        def __init__(self, *args, **kw):
            if not has_var_kw:
                unknown = [k for k in kw if k not in sig.parameters or k == "self"]
                if unknown:
                    raise TypeError(
                        f"{cls.__name__} got unknown hyperparameter(s) {unknown}; accepted arguments: {accepted}"
                    )
            try:
                bound = sig.bind(self, *args, **kw)
            except TypeError as err:
                raise TypeError(f"{cls.__name__}: {err}; accepted arguments: {accepted}") from None
            init(self, *args, **kw)
            # nested wrappers (subclass -> super().__init__) run inner first, so the
            # most-derived constructor's arguments are the ones that stay recorded
            bound.apply_defaults()
            self._config = {k: _jsonable(v) for k, v in bound.arguments.items() if k != "self"}

        cls.__init__ = __init__

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__()
        self.num_fields = _check_int("num_fields", num_fields, 1)
        self.feature_vocab_size = _check_int("feature_vocab_size", feature_vocab_size, 2)
        self.embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
        embedding_init_std = float(embedding_init_std)
        if not embedding_init_std > 0:
            raise ValueError(f"embedding_init_std must be > 0, got {embedding_init_std}")
        self.embedding = FeatureEmbedding(self.feature_vocab_size, self.embedding_dim, init_std=embedding_init_std)
        self.output_dim: int = 0  # set by the subclass

    # -- interface ---------------------------------------------------------------------
    @property
    def flat_embedding_dim(self) -> int:
        return self.num_fields * self.embedding_dim

    def _check_ids(self, feature_ids: torch.Tensor) -> None:
        """Cheap (metadata-only, no device sync) validation of the input."""
        if feature_ids.dim() != 2 or feature_ids.shape[1] != self.num_fields:
            raise ValueError(
                f"{type(self).__name__} expects feature_ids of shape (batch, "
                f"{self.num_fields}), got {tuple(feature_ids.shape)}"
            )
        if feature_ids.is_floating_point() or feature_ids.is_complex() or feature_ids.dtype == torch.bool:
            raise TypeError(f"feature_ids must be an integer tensor, got {feature_ids.dtype}")

    def embed(self, feature_ids: torch.Tensor) -> torch.Tensor:
        """Feature embeddings, ``(B, F) -> (B, F, embedding_dim)``."""
        self._check_ids(feature_ids)
        return self.embedding(feature_ids)

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def init_weights(self) -> None:
        """Re-initialise every parameter (embeddings ``normal(0, init_std)``, linear
        layers PyTorch defaults, first-order terms zero, norms identity)."""
        for module in self.modules():
            if module is self:
                continue
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_running_stats()

    def get_config(self) -> dict:
        """The constructor arguments (with defaults applied), JSON-friendly."""
        config = dict(getattr(self, "_config", {}))
        if self.model_name:
            config = {"model_name": self.model_name, **config}
        return config

    def extra_repr(self) -> str:
        return (
            f"num_fields={self.num_fields}, feature_vocab_size={self.feature_vocab_size}, "
            f"embedding_dim={self.embedding_dim}, output_dim={self.output_dim}"
        )
