"""What makes a saved model folder complete and loadable: the integrity of safetensors files and
the files a FLIP model folder needs (read by `FlipForCTR.from_pretrained`'s checks and by the
training side's checkpoint checks)."""

from __future__ import annotations

import json
import os

from .configuration_flip import FlipConfig

WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with a ``.safetensors`` file (missing, truncated, corrupt header), or None when
    its header is sound and its size is the one the header declares. Reads the header only."""
    path = str(path)
    if not os.path.isfile(path):
        return f"{path} is missing"
    size = os.path.getsize(path)
    if size < 8:
        return f"{path} is truncated ({size} bytes: not even its header length)"
    with open(path, "rb") as fh:
        header_size = int.from_bytes(fh.read(8), "little")
        if header_size > size - 8:
            return f"{path} is truncated ({size} bytes, but its header alone declares {header_size})"
        try:
            header = json.loads(fh.read(header_size))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (UnicodeDecodeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as err:
            return f"{path} has a corrupt header ({type(err).__name__}: {err})"
    expected = 8 + header_size + end
    if size != expected:
        what = "is truncated" if size < expected else "has trailing bytes"
        return f"{path} {what} ({size} bytes, its header declares {expected})"
    return None


def weights_problems(folder: str) -> list[str]:
    """What is wrong with a folder's safetensors weights (one file, or the shards of its index)."""
    index_file = os.path.join(folder, WEIGHTS_INDEX_FILE)
    if not os.path.isfile(index_file):
        return [p for p in [safetensors_problem(os.path.join(folder, WEIGHTS_FILE))] if p]
    try:
        with open(index_file, encoding="utf-8") as fh:
            shards = sorted(set(json.load(fh)["weight_map"].values()))
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        return [f"{index_file} is not a valid weights index ({type(err).__name__}: {err})"]
    return [p for p in (safetensors_problem(os.path.join(folder, shard)) for shard in shards) if p]


def model_folder_problems(folder: str | os.PathLike) -> list[str]:
    """What keeps a local folder from loading as a FLIP model: a missing, broken or foreign
    ``config.json`` (``model_type`` other than ``"flip"``), and missing or damaged safetensors weights
    (sharded ones included). Empty when the folder looks loadable."""
    folder = str(folder)
    problems = []
    config_file = os.path.join(folder, "config.json")
    try:
        with open(config_file, encoding="utf-8") as fh:
            model_type = json.load(fh).get("model_type")
        if model_type != FlipConfig.model_type:
            problems.append(
                f"{config_file} describes a model of type {model_type!r}, not a FLIP model "
                f"(model_type {FlipConfig.model_type!r})"
            )
    except FileNotFoundError:
        problems.append(f"{config_file} is missing")
    except (UnicodeDecodeError, ValueError, AttributeError) as err:
        problems.append(f"{config_file} is not a valid config ({type(err).__name__}: {err})")
    return problems + weights_problems(folder)


__all__ = ["WEIGHTS_FILE", "WEIGHTS_INDEX_FILE", "model_folder_problems", "safetensors_problem", "weights_problems"]
