"""Trainer checkpoints: the completeness of a ``checkpoint-N`` folder (its model files checked by
`flip_hf.models.model_files`), and which checkpoint a resumed run starts from (a half-written one is
skipped, never silently replaced by a fresh start)."""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile

from ..models.model_files import weights_problems

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
RESUME_LAST = ("last", "true")
"""``resume_from_checkpoint`` values (any case) that mean the newest complete checkpoint of ``output_dir``."""


def checkpoint_folders(output_dir: str | os.PathLike) -> list[str]:
    """The ``checkpoint-N`` folders of ``output_dir``, highest step first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(output_dir) if (m := CHECKPOINT_NAME.match(name))]
    paths = [os.path.join(str(output_dir), name) for _, name in sorted(found, reverse=True)]
    return [path for path in paths if os.path.isdir(path)]


def _torch_state_problem(path: str) -> str | None:
    """Why a ``torch.save`` file cannot be loaded (missing, empty, truncated), or None."""
    if not os.path.isfile(path):
        return f"{os.path.basename(path)} is missing"
    if os.path.getsize(path) == 0:
        return f"{os.path.basename(path)} is empty"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut one has no central directory
        return f"{os.path.basename(path)} is truncated or not a torch.save file"
    return None


def checkpoint_problems(folder: str | os.PathLike, world_size: int = 1) -> list[str]:
    """What a ``checkpoint-N`` folder lacks for an exact resume (a save killed half-way leaves such
    folders): a missing or broken ``trainer_state.json``, missing or truncated weights, a missing or
    truncated optimizer, scheduler or RNG state (one ``rng_state_<rank>.pth`` per process when
    ``world_size > 1``). Empty when the checkpoint is complete."""
    folder = str(folder)
    problems = []
    state_file = os.path.join(folder, "trainer_state.json")
    try:
        with open(state_file, encoding="utf-8") as fh:
            step = json.load(fh)["global_step"]
        if not isinstance(step, int):
            problems.append(f"trainer_state.json has no integer global_step ({step!r})")
    except FileNotFoundError:
        problems.append("trainer_state.json is missing")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        problems.append(f"trainer_state.json is broken ({type(err).__name__}: {err})")
    problems += [p.replace(folder + os.sep, "") for p in weights_problems(folder)]
    rng = ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{i}.pth" for i in range(world_size)]
    for name in ["optimizer.pt", "scheduler.pt", *rng]:
        problem = _torch_state_problem(os.path.join(folder, name))
        if problem:
            problems.append(problem)
    return problems


def resolve_checkpoint(
    resume_from_checkpoint: str | bool | None, output_dir: str | os.PathLike, world_size: int = 1
) -> str | None:
    """The checkpoint a run resumes from.

    None or False: none (a fresh run). True, ``"last"`` or ``"true"``: the newest complete
    ``checkpoint-N`` folder of ``output_dir``. A path: that checkpoint. A half-written or damaged
    checkpoint (see `checkpoint_problems`) is skipped, with a warning naming what is wrong, for the
    newest complete one before it in the same folder. Raises FileNotFoundError when there is no
    checkpoint at all and ValueError, listing every problem, when none is complete: a resume never
    silently starts from scratch.
    """
    if resume_from_checkpoint is None or resume_from_checkpoint is False:
        return None
    resume = str(resume_from_checkpoint)
    if resume_from_checkpoint is True or (resume.strip().lower() in RESUME_LAST and not os.path.isdir(resume)):
        candidates = checkpoint_folders(output_dir)
        if not candidates:
            raise FileNotFoundError(f"Cannot resume the last checkpoint: {output_dir} holds no checkpoint-N folder.")
    else:
        path = os.path.normpath(resume)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Cannot resume from {path}: no such checkpoint folder.")
        match = CHECKPOINT_NAME.match(os.path.basename(path))
        candidates = [path]
        if match:  # earlier checkpoints of the same run to fall back to
            step = int(match.group(1))
            earlier = checkpoint_folders(os.path.dirname(path))
            candidates += [c for c in earlier if int(CHECKPOINT_NAME.match(os.path.basename(c)).group(1)) < step]
    skipped = []
    for folder in candidates:
        problems = checkpoint_problems(folder, world_size)
        if not problems:
            return folder
        logger.warning(
            "Checkpoint %s is incomplete or damaged (%s): falling back to the previous complete checkpoint.",
            folder,
            "; ".join(problems),
        )
        skipped.append(f"{folder} ({'; '.join(problems)})")
    raise ValueError(
        "No complete checkpoint to resume from: " + ", ".join(skipped) + ". Pass --overwrite_output_dir True "
        "(without --resume_from_checkpoint) to start the run afresh."
    )


__all__ = [
    "CHECKPOINT_NAME",
    "RESUME_LAST",
    "checkpoint_folders",
    "checkpoint_problems",
    "resolve_checkpoint",
]
