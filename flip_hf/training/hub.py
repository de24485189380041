"""Hub integration: model cards with real metrics in valid Hub metadata, and the upload folder."""

from __future__ import annotations

import json
import os
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..models.model_files import WEIGHTS_FILE, WEIGHTS_INDEX_FILE
from ..tokenization.tokenization_io import FEATURE_VOCAB_FILE

MODEL_CARD_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_card_template.md")
MODE_NAMES = {"joint": "FLIP", "id": "FLIP_ID", "plm": "FLIP_PLM"}


def build_model_card(
    config: Any,
    results: dict[str, Any],
    dataset: str,
    hyperparameters: dict[str, Any] | None = None,
    pretrained_from: str | None = None,
    model_name: str | None = None,
) -> ModelCard:
    """A model card from the template, with AUC/Logloss as Hub ``model-index`` eval results."""
    mode = config.mode
    name = model_name or f"{MODE_NAMES[mode]}-{config.id_model}-{dataset}"
    eval_results = [
        EvalResult(
            task_type="tabular-classification",
            task_name="CTR prediction",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split="test",
            metric_type=metric_type,
            metric_name=metric_name,
            metric_value=float(results[key]),
        )
        for key, metric_type, metric_name in (("auc", "roc_auc", "AUC"), ("logloss", "log_loss", "Logloss"))
        if key in results
    ]
    plm = None
    if config.text_config is not None and mode != "id":
        plm = getattr(config.text_config, "_name_or_path", None) or config.text_config.model_type
        parts = [p for p in str(plm).replace("\\", "/").split("/") if p]
        plm = parts[-2] if len(parts) > 1 and parts[-1] == "model" else (parts[-1] if parts else plm)
    card_data = ModelCardData(
        library_name="flip_hf",
        license="apache-2.0",
        tags=["ctr-prediction", "recommendation", "flip", "tabular-classification", config.id_model],
        pipeline_tag="tabular-classification",
        model_name=name,
        eval_results=eval_results or None,
    )
    hp = "\n".join(f"- `{k}`: {v}" for k, v in sorted((hyperparameters or {}).items()))
    return ModelCard.from_template(
        card_data,
        template_path=MODEL_CARD_TEMPLATE,
        model_name=name,
        mode=mode,
        id_model=config.id_model,
        plm=plm or "none (ID side only)",
        dataset=dataset,
        fields=", ".join(f"`{f}`" for f in (config.field_names or [])),
        pretrained_from=pretrained_from,
        auc=f"{results['auc']:.4f}" if "auc" in results else None,
        logloss=f"{results['logloss']:.4f}" if "logloss" in results else None,
        hyperparameters=hp or None,
        install_command=INSTALL_COMMAND,
    )


def save_model_card(output_dir: str, card: ModelCard) -> str:
    """Write ``README.md`` (the Hub's model card file) into ``output_dir``."""
    path = os.path.join(output_dir, "README.md")
    card.save(path)
    return path


FLIP_HF_SOURCE = "https://github.com/flip-hf/flip_hf"
INSTALL_COMMAND = f'pip install "git+{FLIP_HF_SOURCE}"'
"""How to get flip_hf, which is not on PyPI: what the remote-code stubs say where it is missing
(rather than transformers' own hint ``pip install flip_hf``, which leads to no package or to a
look-alike one; issue #26)."""


def _remote_code_stub(what: str, names: str) -> str:
    """An entry-point module that imports ``names`` from the installed flip_hf's top level (names that
    stay where they are when modules move), or stops with `INSTALL_COMMAND`. The import sits in a
    ``try`` so that transformers' import check skips it."""
    return (
        f'"""Hub entry point: {what} of the installed flip_hf. flip_hf is not published on PyPI;\n'
        f'install it from its source: {INSTALL_COMMAND}.\n"""\n\n'
        "try:\n"
        f"    from flip_hf import {names}  # noqa: F401\n"
        "except ModuleNotFoundError as err:\n"
        "    if err.name != 'flip_hf':\n"
        "        raise\n"
        "    raise ImportError(\n"
        "        'This model needs flip_hf, which is not published on PyPI (pip install flip_hf finds nothing, '\n"
        f"        'or a look-alike package). Install it from its source: {INSTALL_COMMAND}'\n"
        "    ) from None\n"
    )


_REMOTE_CODE_STUBS = {
    "configuration_flip.py": _remote_code_stub("the config class", "FlipConfig"),
    "modeling_flip.py": _remote_code_stub("the model classes", "FlipForCTR, FlipForPretraining"),
}


def add_auto_map(folder: str) -> None:
    """Make a checkpoint folder loadable by ``AutoModel.from_pretrained(repo, trust_remote_code=True)``
    without importing flip_hf first: small entry-point modules that import the installed flip_hf
    (or say how to install it, `INSTALL_COMMAND`), and an ``auto_map`` in config.json.
    (``import flip_hf`` alone registers the Auto classes too.)"""
    for name, text in _REMOTE_CODE_STUBS.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    config_path = os.path.join(folder, "config.json")
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    config["auto_map"] = {"AutoConfig": "configuration_flip.FlipConfig", "AutoModel": "modeling_flip.FlipForCTR"}
    with open(config_path, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2, sort_keys=True)


HUB_FILES = (
    "README.md",
    "config.json",
    WEIGHTS_FILE,
    WEIGHTS_INDEX_FILE,
    FEATURE_VOCAB_FILE,
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    *_REMOTE_CODE_STUBS,
)
"""The files a push uploads: the model card, config, weights, the tokenizer's files and the
remote-code stubs. Everything else in the folder (results and training-argument files, logs,
checkpoints, optimizer/scheduler/RNG states, data, caches, credentials) stays local."""


def upload_folder_contents(folder: str) -> list[str]:
    """The files ``push_to_hub`` sends from ``folder``: those of `HUB_FILES` (plus the weight shards
    its index names) that are regular files, not links."""
    names = list(HUB_FILES)
    index = os.path.join(folder, WEIGHTS_INDEX_FILE)
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as fh:
            names += sorted(set(json.load(fh)["weight_map"].values()))
    keep = []
    for name in sorted(set(names)):
        path = os.path.join(folder, name)
        if os.path.basename(name) == name and os.path.isfile(path) and not os.path.islink(path):
            keep.append(name)
    return keep


def create_hub_repo(repo_id: str, private: bool | None = True, token: str | None = None) -> str:
    """Create ``repo_id`` on the Hub if it does not exist (private unless ``private=False``); returns its id."""
    from huggingface_hub import HfApi

    url = HfApi(token=token).create_repo(repo_id, private=True if private is None else private, exist_ok=True)
    return getattr(url, "repo_id", None) or repo_id


def push_checkpoint_to_hub(folder: str, repo_id: str, private: bool = True, token: str | None = None, **kwargs) -> str:
    """Upload a checkpoint folder's model, tokenizer, card and config files (`upload_folder_contents`)
    to the Hub; returns the commit URL. Other keyword arguments go to `HfApi.upload_folder`."""
    from huggingface_hub import HfApi

    allow = upload_folder_contents(folder)
    if not any(name.endswith(".safetensors") for name in allow):
        raise ValueError(f"{folder} holds no model weights ({WEIGHTS_FILE}) to upload.")
    repo_id = create_hub_repo(repo_id, private=private, token=token)
    info = HfApi(token=token).upload_folder(folder_path=folder, repo_id=repo_id, allow_patterns=allow, **kwargs)
    return str(info)
