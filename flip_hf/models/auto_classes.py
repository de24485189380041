"""Registration of this package's configs and models with transformers' ``AutoConfig`` and
``AutoModel`` (FLIP and the PLM baselines), idempotent."""

from __future__ import annotations

from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel


def register_auto_model(config_class: type[PretrainedConfig], model_class: type[PreTrainedModel]) -> None:
    """``AutoConfig`` for ``config_class.model_type`` and ``AutoModel`` for ``config_class``; a second
    call is a no-op."""
    try:
        AutoConfig.register(config_class.model_type, config_class)
    except ValueError:
        pass  # already registered
    try:
        AutoModel.register(config_class, model_class)
    except ValueError:
        pass


__all__ = ["register_auto_model"]
