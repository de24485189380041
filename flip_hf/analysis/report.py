"""Figures and numbers of one or more checkpoints (``examples/analyze.py``): spectra of the ID
embedding table and of both sides' sample representations, overlaid (paper Fig. 2/8); the
field-correspondence heat map and its diagonal hit rate (Fig. 9); the training-loss curves."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_ctr_dataset
from ..models.modeling_flip import FlipForCTR, FlipForPretraining
from ..tokenization.tokenization_flip import FlipTabularTokenizer
from .plots import file_slug, loss_curves_from_log, plot_heatmap, plot_loss_curves, plot_spectra
from .representations import (
    diagonal_hit_rate,
    effective_rank,
    embedding_table,
    field_correspondence,
    sample_representations,
    singular_spectrum,
)

LOSS_NAMES = ("loss", "mlm_loss", "mtm_loss", "icl_loss")


def load_checkpoint(path: str | os.PathLike):
    """(model, tokenizer) of a pretraining or a CTR folder."""
    with open(Path(path) / "config.json", encoding="utf-8") as fh:
        architectures = json.load(fh).get("architectures") or []
    model_class = FlipForPretraining if "FlipForPretraining" in architectures else FlipForCTR
    return model_class.from_pretrained(str(path)).eval(), FlipTabularTokenizer.from_pretrained(str(path))


def loss_history(path: str | os.PathLike) -> list[dict]:
    """The logged losses of the run that wrote a folder (its pretraining summary or trainer state)."""
    folder = Path(path)
    summary = folder / "pretrain_results.json"
    if summary.is_file():
        with open(summary, encoding="utf-8") as fh:
            return json.load(fh).get("loss_curve") or []
    states = sorted(folder.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1]))
    if states:
        with open(states[-1], encoding="utf-8") as fh:
            return json.load(fh).get("log_history") or []
    return []


def analyze(
    checkpoints: dict[str, Any],
    rows: dict[str, list],
    out_dir: str | os.PathLike,
    heatmap_rows: int = 200,
) -> dict[str, Any]:
    """Analyse ``checkpoints`` (name -> folder, or name -> (model, tokenizer)) on held-out ``rows``
    (a dict of columns); writes PNGs and ``analysis.json`` into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"checkpoints": {}, "figures": {}}
    spectra: dict[str, dict[str, np.ndarray]] = {"embeddings": {}, "samples_id": {}, "samples_text": {}}
    for name, source in checkpoints.items():
        model, tokenizer = load_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
        facts: dict[str, Any] = {}
        if getattr(model, "id_model", None) is not None:
            table = embedding_table(model, tokenizer)
            spectra["embeddings"][name] = singular_spectrum(table)
            facts["embedding_effective_rank"] = effective_rank(spectra["embeddings"][name])
            facts["embedding_mean_row_norm"] = float(table.norm(dim=1).mean())
        reps = sample_representations(model, tokenizer, rows)
        for side, matrix in reps.items():
            spectra[f"samples_{side}"][name] = singular_spectrum(matrix)
            facts[f"{side}_representation_effective_rank"] = effective_rank(spectra[f"samples_{side}"][name])
        if getattr(model, "icl_head", None) is not None:
            n = min(heatmap_rows, len(next(iter(rows.values()))))
            matrices = [field_correspondence(model, tokenizer, {k: v[i] for k, v in rows.items()}) for i in range(n)]
            facts["diagonal_hit_rate"] = diagonal_hit_rate(matrices)
            facts["heatmap_rows"] = n
            summary["figures"][f"heatmap_{name}"] = plot_heatmap(
                matrices[0], tokenizer.field_names, out / f"heatmap_{file_slug(name)}.png",
                f"{name}: field correspondence (diagonal hit rate {facts['diagonal_hit_rate']:.2f} over {n} rows)",
            )  # fmt: skip
        if isinstance(source, (str, os.PathLike)):
            curves = loss_curves_from_log(loss_history(source), LOSS_NAMES)
            if any(curves.values()):
                summary["figures"][f"losses_{name}"] = plot_loss_curves(
                    {k: v for k, v in curves.items() if v},
                    out / f"losses_{file_slug(name)}.png",
                    f"{name}: training losses",
                )
        summary["checkpoints"][name] = facts
    titles = {
        "embeddings": "ID embedding table (value rows, centred)",
        "samples_id": "ID-side sample representations v (held-out rows)",
        "samples_text": "text-side sample representations w_1 (held-out rows)",
    }
    for kind, curves in spectra.items():
        if curves:
            summary["figures"][f"spectra_{kind}"] = plot_spectra(curves, out / f"spectra_{kind}.png", titles[kind])
    with open(out / "analysis.json", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    return summary


def held_out_rows(dataset: str, data_dir: str | None, num_rows: int, seed: int = 0) -> dict[str, list]:
    """``num_rows`` random rows of the test split (never trained on), as columns."""
    test = load_ctr_dataset(dataset, data_dir=data_dir)["test"]
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(test), size=min(num_rows, len(test)), replace=False))
    return test.select(picked.tolist())[:]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", nargs="+", required=True, help="NAME=DIR or DIR (several overlay).")
    parser.add_argument("--dataset", default="movielens-100k")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--num_rows", type=int, default=2000, help="Held-out rows for the sample spectra.")
    parser.add_argument("--heatmap_rows", type=int, default=200, help="Rows for the diagonal hit rate.")
    parser.add_argument("--output_dir", default="analysis_output")
    args = parser.parse_args(argv)
    checkpoints = {}
    for item in args.checkpoint:
        name, _, folder = item.rpartition("=")
        checkpoints[name or Path(folder).name] = folder
    summary = analyze(checkpoints, held_out_rows(args.dataset, args.data_dir, args.num_rows), args.output_dir,
                      args.heatmap_rows)  # fmt: skip
    for name, facts in summary["checkpoints"].items():
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in facts.items()}))
    for path in summary["figures"].values():
        print("wrote", path)
    return summary


__all__ = ["analyze", "held_out_rows", "load_checkpoint", "loss_history", "main"]
