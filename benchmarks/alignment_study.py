#!/usr/bin/env python
"""Why FLIP_ID does (or does not) beat its own DCNv2 on MovieLens-100K: the evidence behind
benchmarks/results/alignment_study.md.

    python benchmarks/alignment_study.py --tables icl_norm objectives [--work_dir DIR] [--refit]

Reads the tables runner's finished rows (cpu profile; each row's learning rate and epochs were
chosen on validation, its test split read once) and adds diagnostics that select nothing:
- per row and seed, FLIP_ID minus DCNv2 on the same finetuning seed, and the test AUC split into
  rows whose user the training split never saw (cold, the unknown id) and the others (warm);
- what pretraining did to the ID embedding table (mean row norm, effective rank of the user-id and
  movie-id blocks) against the untouched initialisation and against a CTR-trained DCNv2 (and how far
  CTR training moved the unknown user id, which every cold row reads), and the nearest neighbours of
  a few movies;
- per row, the cold and warm AUC minus DCNv2's on the same finetuning seed, on test and validation;
writes benchmarks/results/alignment_study.json (and prints the tables).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import numpy as np
import torch

from flip_hf import FlipConfig, FlipForCTR, FlipForPretraining, FlipTabularTokenizer
from flip_hf.analysis.plots import loss_curves_from_log, plot_loss_curves
from flip_hf.analysis.representations import effective_rank, embedding_table, nearest_neighbours, singular_spectrum
from flip_hf.data.cache import flip_hf_cache_root
from flip_hf.metrics import ctr_metrics
from flip_hf.paper_tables import PROFILES, TABLES, run_table
from flip_hf.paper_tables.report import mean_sd
from flip_hf.paper_tables.runner import data_arguments, model_dir, result_path, whole_train
from flip_hf.tokenization.tokenization_flip import MASK_ID
from flip_hf.training.pipelines import load_data

MOVIES = ["Star Wars (1977)", "Toy Story (1995)", "Fargo (1996)", "Scream (1996)"]


@torch.no_grad()
def cold_warm(model, tok, split, unseen_to_mask: bool = False) -> dict[str, float]:
    """AUC of ``model`` on all rows, on rows with an unseen user (cold, under the model's own
    vocabulary ``tok``) and on the others (warm)."""
    ids = tok.encode_features(split[:])
    cold = ids[:, tok.field_names.index("user id")] == tok.unknown_feature_id("user id")
    if unseen_to_mask:  # every unknown id -> the shared <MASK> id the pretraining trained
        unknown = torch.tensor(tok.field_offsets)[None, :].expand_as(ids)
        ids = torch.where(ids == unknown, torch.full_like(ids, MASK_ID), ids)
    probs = torch.sigmoid(model(feature_ids=ids).logits).numpy()
    y = np.asarray(split["label"])
    c = cold.numpy()
    return {
        "auc": ctr_metrics(y, probs)["auc"],
        "cold_auc": ctr_metrics(y[c], probs[c])["auc"],
        "warm_auc": ctr_metrics(y[~c], probs[~c])["auc"],
        "cold_share": float(c.mean()),
    }


def _mean(entries: list[dict], key: str, part: str | None = None) -> float:
    values = [(e[part][key] if part else e[key]) for e in entries]
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else float("nan")


def embedding_facts(model, tokenizer) -> dict[str, float]:
    out = {}
    for field in ("user id", "movie id"):
        table = embedding_table(model, tokenizer, [field])
        out[f"{field} norm"] = float(table.norm(dim=1).mean())
        out[f"{field} effective rank"] = effective_rank(singular_spectrum(table))
    return out


def logged_curve(path: str) -> list[dict]:
    """The logged pretraining losses in a ``pretrain_results.json`` (or a file of the same shape)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["loss_curve"]


def loss_profile(curve: list[dict]) -> dict[str, float]:
    """Each pretraining loss at a quarter, half and the end of the run."""
    out = {}
    for fraction in (0.25, 0.5, 1.0):
        point = curve[max(0, round(fraction * len(curve)) - 1)]
        for name in ("mlm_loss", "mtm_loss", "icl_loss"):
            out[f"{name}@{fraction:g}"] = point.get(name)
    return out


PARTS = ("test cold", "test warm", "validation cold", "validation warm")


def paired_by_part(by_row: dict[str, list[dict]]) -> dict[str, dict]:
    """Per row, its cold and warm AUC minus DCNv2's on the same finetuning seed (mean, sd, pairs):
    where in the split a pretraining's gain lives."""
    base = {e["seed"]: e for e in by_row.get("DCNv2", [])}
    out = {}
    for name, entries in by_row.items():
        pairs = [e for e in entries if name != "DCNv2" and e["seed"] in base]
        if not pairs:
            continue
        out[name] = {"pairs": len(pairs)}
        for part in PARTS:
            split, which = part.split()
            if split not in pairs[0]:  # a refit trained on validation: only its test split is scored
                continue
            diffs = [e[split][f"{which}_auc"] - base[e["seed"]][split][f"{which}_auc"] for e in pairs]
            mean, sd = mean_sd(diffs)
            out[name][part] = {"mean": mean, "sd": sd, "per_seed": diffs}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["icl_norm", "objectives"])
    parser.add_argument("--work_dir", default=str(flip_hf_cache_root() / "paper_tables"), help="The tables runner's.")
    parser.add_argument("--output", default="benchmarks/results/alignment_study.json")
    parser.add_argument("--unseen_to_mask", action="store_true", help="Also score with unknown ids -> <MASK>.")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="The rows' refits on train + validation (paper_tables --refit): cold and warm are read on test, "
        "with the refit's vocabulary.",
    )
    parser.add_argument(
        "--curve", nargs="*", default=[], help="NAME=FILE: a logged pretraining curve to draw beside the rows' own."
    )
    args = parser.parse_args(argv)
    curves = {name: logged_curve(path) for name, _, path in (c.partition("=") for c in args.curve)}
    torch.set_num_threads(1)
    profile = PROFILES["cpu"].replace(refit=args.refit)
    ds = load_data(data_arguments(whole_train(profile) if args.refit else profile))
    report = {"rows": [], "embeddings": {}, "neighbours": {}}
    seen_rows = set()
    for table in args.tables:
        finished = {  # only rows whose every seed is done; run_table would train the others
            r.name
            for r in TABLES[table]
            if all(
                result_path(r, profile, s, args.work_dir).is_file()
                for s in (profile.text_seeds if r.uses_text else profile.id_seeds)
            )
        }
        if not finished:
            continue
        results = run_table(table, profile, args.work_dir, rows=sorted(finished))
        base = {r["seed"]: r["auc"] for r in results if r["row"] == "DCNv2"}
        for r in results:
            if (r["row"], r["seed"]) in seen_rows or r["mode"] != "id":
                continue
            seen_rows.add((r["row"], r["seed"]))
            row = next(x for x in TABLES[table] if x.name == r["row"])
            saved = str(model_dir(row, profile, r["seed"], args.work_dir))
            ctr_model = FlipForCTR.from_pretrained(saved).eval()  # read once, scored on every split
            ctr_tok = FlipTabularTokenizer.from_pretrained(saved)
            entry = {k: r[k] for k in ("row", "seed", "auc", "logloss", "validation_auc", "learning_rate")}
            entry["minus_dcnv2"] = r["auc"] - base[r["seed"]] if r["seed"] in base else None
            for split in ("test", "validation"):
                if split in ds:
                    entry[split] = cold_warm(ctr_model, ctr_tok, ds[split])
                    if args.unseen_to_mask:
                        entry[f"{split}_mask"] = cold_warm(ctr_model, ctr_tok, ds[split], True)
            report["rows"].append(entry)
            folder = os.path.join(args.work_dir, "pretrain", r["pretrain"]["folder"]) if r.get("pretrain") else None
            if folder and not os.path.isfile(os.path.join(folder, "config.json")):
                print(f"{r['row']}: no pretraining checkpoint in {folder}; its embedding facts are left out")
            elif folder and r["pretrain"]["folder"] not in report["embeddings"]:
                model = FlipForPretraining.from_pretrained(folder)
                tok = FlipTabularTokenizer.from_pretrained(folder)
                curve = logged_curve(os.path.join(folder, "pretrain_results.json"))
                curves[r["row"]] = curve
                facts = {"row": r["row"], **embedding_facts(model, tok), **loss_profile(curve)}
                report["embeddings"][r["pretrain"]["folder"]] = facts
                report["neighbours"][r["row"]] = nearest_neighbours(model, tok, "title", MOVIES)
            if r["row"] == "DCNv2" and "DCNv2 (CTR-trained)" not in report["embeddings"]:
                torch.manual_seed(r["seed"])  # the finetuning's own initialisation (the runner seeds it so)
                init = FlipForCTR(FlipConfig.from_tokenizer(ctr_tok, mode="id"))
                unknown = ctr_tok.unknown_feature_id("user id")  # the id of every cold row's user
                moved = ctr_model.id_model.embedding.weight[unknown] - init.id_model.embedding.weight[unknown]
                report["embeddings"]["DCNv2 (CTR-trained)"] = {
                    "row": "DCNv2",
                    **embedding_facts(ctr_model, ctr_tok),
                    "unknown user-id row moved by CTR training": float(moved.norm()),
                }
                report["embeddings"]["initialisation"] = {"row": "-", **embedding_facts(init, ctr_tok)}
    by_row = {}
    for e in report["rows"]:
        by_row.setdefault(e["row"], []).append(e)
    report["paired_by_part"] = paired_by_part(by_row)
    print("| row | test AUC | FLIP_ID − DCNv2 (paired) | cold AUC | warm AUC | val AUC |")
    print("|---|---|---|---|---|---|")
    for name, entries in by_row.items():
        mean, sd = mean_sd([e["minus_dcnv2"] for e in entries if e["minus_dcnv2"] is not None])
        print(
            f"| {name} | {_mean(entries, 'auc'):.4f} | {mean:+.4f} ± {sd:.4f} | "
            f"{_mean(entries, 'cold_auc', 'test'):.4f} | {_mean(entries, 'warm_auc', 'test'):.4f} | "
            f"{_mean(entries, 'validation_auc'):.4f} |"
        )
    print("\nPaired − DCNv2 (same finetuning seed) on the cold and warm rows:")
    print("| row | pairs | test cold | test warm | val cold | val warm |")
    print("|---|---|---|---|---|---|")
    for name, parts in report["paired_by_part"].items():
        cells = " | ".join(f"{parts[k]['mean']:+.4f} ± {parts[k]['sd']:.4f}" if k in parts else "–" for k in PARTS)
        print(f"| {name} | {parts['pairs']} | {cells} |")
    for name, facts in report["embeddings"].items():
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in facts.items()})
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    if curves:  # the ICL loss of each pretraining: does it saturate (and stop shaping the ID side)?
        icl = {name: loss_curves_from_log(c, ["icl_loss"])["icl_loss"] for name, c in curves.items()}
        report["icl_loss_profile"] = {name: loss_profile(c) for name, c in curves.items()}
        figure = os.path.splitext(args.output)[0] + "_icl.png"
        print("wrote", plot_loss_curves(icl, figure, "ICL loss during pretraining (64-row batches; log(64) = 4.16)"))
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, default=float)
    print("wrote", args.output)
    return report


if __name__ == "__main__":
    main()
