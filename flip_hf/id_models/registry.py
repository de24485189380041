"""Registry of the ID-based CTR models (name -> class) and the factory that builds them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from .base import IDModelBase

__all__ = [
    "ID_MODEL_REGISTRY",
    "register_id_model",
    "list_id_models",
    "resolve_id_model_name",
    "get_id_model_class",
    "build_id_model",
]

ID_MODEL_REGISTRY: dict[str, type[IDModelBase]] = {}
_ALIASES: dict[str, str] = {}
_POSITIONAL = ("num_fields", "feature_vocab_size")


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def register_id_model(name: str, *aliases: str):
    """Class decorator registering an `IDModelBase` subclass under a canonical lower-case
    name and optional aliases, e.g. `@register_id_model("dcnv2", "dcn_v2")`."""
    canonical = _normalise(name)

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, IDModelBase)):
            raise TypeError(f"{cls!r} must subclass IDModelBase to be registered")
        existing = ID_MODEL_REGISTRY.get(canonical)
        if existing is not None and existing is not cls:
            raise ValueError(f"ID model name {canonical!r} is already registered to {existing.__name__}")
        ID_MODEL_REGISTRY[canonical] = cls
        for alias in aliases:
            _ALIASES[_normalise(alias)] = canonical
        cls.model_name = canonical
        return cls

    return decorator


def list_id_models() -> list[str]:
    """Canonical names of all registered ID models, sorted."""
    return sorted(ID_MODEL_REGISTRY)


def resolve_id_model_name(name: str) -> str:
    """The canonical name for `name` (case-insensitive, aliases such as `"ipnn"` or
    `"wide&deep"` allowed). Raises `ValueError` listing the known names."""
    if not isinstance(name, str):
        raise TypeError(f"ID model name must be a string, got {name!r}")
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    if key not in ID_MODEL_REGISTRY:
        raise ValueError(f"Unknown ID model {name!r}. Known ID models: {', '.join(list_id_models())}")
    return key


def get_id_model_class(name: str) -> type[IDModelBase]:
    """The registered class for `name` (resolved as in `resolve_id_model_name`)."""
    return ID_MODEL_REGISTRY[resolve_id_model_name(name)]


def _hyperparameters(cls: type[IDModelBase]) -> tuple[list[str], bool]:
    """The keyword hyperparameters of `cls`'s constructor, and whether it takes `**kwargs`."""
    params = inspect.signature(cls.__init__).parameters.values()
    names = [
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in ("self", *_POSITIONAL)
    ]
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def build_id_model(
    name: str,
    num_fields: int,
    feature_vocab_size: int,
    shared: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> IDModelBase:
    """Instantiate a registered ID model.

    Args:
        name (`str`): a registered name or alias (see `list_id_models`).
        num_fields (`int`): the number of fields F.
        feature_vocab_size (`int`): the size of the global feature-id space.
        shared (`dict`, *optional*): hyperparameters common to the zoo (such as
            `embedding_dim`, `mlp_hidden_sizes`, `dropout`), passed only where the model's
            constructor accepts them and skipped elsewhere.
        kwargs: the model's own hyperparameters, strict: one the constructor does not accept
            raises `TypeError` naming the model and the accepted ones. They take precedence
            over `shared`.
    """
    key = resolve_id_model_name(name)
    cls = ID_MODEL_REGISTRY[key]
    accepted, takes_any = _hyperparameters(cls)
    shared = dict(shared or {})
    clashing = [k for k in _POSITIONAL if k in shared]
    if clashing:
        raise TypeError(f"shared hyperparameters must not set {clashing}: they are arguments of build_id_model")
    if not takes_any:
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise TypeError(
                f"Unknown hyperparameter(s) {unknown} for ID model {key!r} ({cls.__name__}); accepted: {accepted}"
            )
        shared = {k: v for k, v in shared.items() if k in accepted}
    return cls(num_fields=num_fields, feature_vocab_size=feature_vocab_size, **{**shared, **kwargs})
