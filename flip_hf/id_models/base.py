"""`IDModelBase`, the interface every ID-based CTR model of the zoo implements."""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_int
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_EMBEDDING_INIT_STD
from .layers import FeatureEmbedding

__all__ = ["IDModelBase"]


class IDModelBase(nn.Module):
    """Base of every ID-based CTR model: global feature ids `(B, F)` to an instance
    representation `(B, output_dim)`.

    ```python
    model = SomeModel(num_fields, feature_vocab_size, embedding_dim=32, **specific)
    model.output_dim  # size of the representation v
    model(feature_ids)  # (B, F) integer ids -> v, (B, output_dim)
    model.embed(feature_ids)  # (B, F, embedding_dim)
    model.init_weights()  # re-initialise every parameter
    model.uses_batch_statistics  # whether rows of a batch influence each other in training
    ```

    `v` is the output of the feature-interaction layers, before any prediction layer: a
    caller-owned `Linear(output_dim, 1)` turns it into the logit. Subclasses get
    `self.embedding` from this constructor and set `self.output_dim`.
    """

    model_name: str = ""  # set by `register_id_model`

    def __init__(
        self,
        num_fields: int,
        feature_vocab_size: int,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        embedding_init_std: float = DEFAULT_EMBEDDING_INIT_STD,
    ):
        super().__init__()
        self.num_fields = check_int("num_fields", num_fields, 1)
        self.feature_vocab_size = check_int("feature_vocab_size", feature_vocab_size, 2)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        embedding_init_std = float(embedding_init_std)
        if not embedding_init_std > 0:
            raise ValueError(f"embedding_init_std must be > 0, got {embedding_init_std}")
        self.embedding = FeatureEmbedding(self.feature_vocab_size, self.embedding_dim, init_std=embedding_init_std)
        self.output_dim: int = 0

    @property
    def flat_embedding_dim(self) -> int:
        """`num_fields * embedding_dim`, the size of the flattened embeddings."""
        return self.num_fields * self.embedding_dim

    @property
    def uses_batch_statistics(self) -> bool:
        """Whether a submodule computes statistics over the batch in training mode.

        True with a batch norm of any dimension (`SyncBatchNorm` included) or any module that
        keeps running statistics. Then a row's output depends on the other rows of its batch,
        and running two sets of rows (FLIP's clean and masked views) as one concatenated
        batch is not the same as running them separately. A property of the architecture:
        it does not look at `self.training`.
        """
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                return True
            if any(getattr(module, name, None) is not None for name in ("running_mean", "running_var")):
                return True
        return False

    def _check_ids(self, feature_ids: torch.Tensor) -> None:
        """Metadata-only validation of the input (no device synchronisation)."""
        if feature_ids.dim() != 2 or feature_ids.shape[1] != self.num_fields:
            raise ValueError(
                f"{type(self).__name__} expects feature_ids of shape (batch, {self.num_fields}), "
                f"got {tuple(feature_ids.shape)}"
            )
        if feature_ids.is_floating_point() or feature_ids.is_complex() or feature_ids.dtype == torch.bool:
            raise TypeError(f"feature_ids must be an integer tensor, got {feature_ids.dtype}")

    def embed(self, feature_ids: torch.Tensor) -> torch.Tensor:
        """Feature embeddings, `(B, F) -> (B, F, embedding_dim)`."""
        self._check_ids(feature_ids)
        return self.embedding(feature_ids)

    def forward(self, feature_ids: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def init_weights(self) -> None:
        """Re-initialise every parameter: embeddings `normal(0, init_std)`, linear layers
        PyTorch's defaults, first-order terms zero, norms identity with fresh running statistics."""
        for module in self.modules():
            if module is self:
                continue
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()  # batch norms reset their running statistics here too

    def extra_repr(self) -> str:
        return (
            f"num_fields={self.num_fields}, feature_vocab_size={self.feature_vocab_size}, "
            f"embedding_dim={self.embedding_dim}, output_dim={self.output_dim}"
        )
