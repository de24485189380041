"""Registry of ID-based CTR models: name -> class, plus a checked factory."""

from __future__ import annotations

import inspect

from .layers import IDModelBase

__all__ = [
    "ID_MODEL_REGISTRY",
    "register_id_model",
    "build_id_model",
    "list_id_models",
    "build_id_model_from_config",
    "get_id_model_class",
    "resolve_id_model_name",
]

ID_MODEL_REGISTRY: dict[str, type[IDModelBase]] = {}
_ALIASES: dict[str, str] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def register_id_model(name: str, *aliases: str):
    """Class decorator: ``@register_id_model("dcnv2")`` registers under a canonical,
    lower-case name (plus optional aliases)."""
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
    """Canonical name for ``name`` (case-insensitive, aliases such as ``"ipnn"``,
    ``"wide&deep"``). Raises ``ValueError`` listing the known names."""
    if not isinstance(name, str):
        raise TypeError(f"ID model name must be a string, got {name!r}")
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    if key not in ID_MODEL_REGISTRY:
        raise ValueError(f"Unknown ID model {name!r}. Known ID models: {', '.join(list_id_models())}")
    return key


def get_id_model_class(name: str) -> type[IDModelBase]:
    return ID_MODEL_REGISTRY[resolve_id_model_name(name)]


def build_id_model(name: str, num_fields: int, feature_vocab_size: int, **kwargs) -> IDModelBase:
    """Instantiate a registered ID model. Unknown hyperparameters raise ``TypeError``
    naming them, the model and the accepted ones."""
    key = resolve_id_model_name(name)
    cls = ID_MODEL_REGISTRY[key]
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [p for p in params if p not in ("self", "num_fields", "feature_vocab_size")]
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise TypeError(
                f"Unknown hyperparameter(s) {unknown} for ID model {key!r} ({cls.__name__}); accepted: {accepted}"
            )
    return cls(num_fields=num_fields, feature_vocab_size=feature_vocab_size, **kwargs)


def build_id_model_from_config(config: dict) -> IDModelBase:
    """Rebuild a model from :meth:`IDModelBase.get_config` output (``model_name`` +
    constructor arguments)."""
    config = dict(config)
    name = config.pop("model_name", None)
    if name is None:
        raise ValueError("config has no 'model_name'")
    num_fields = config.pop("num_fields")
    feature_vocab_size = config.pop("feature_vocab_size")
    return build_id_model(name, num_fields, feature_vocab_size, **config)
