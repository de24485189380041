"""What alignment does, in numbers (paper Section V-F and V-G): singular-value spectra of the ID
embedding table and of sample representations (Fig. 2 and 8), their effective rank, the field-level
cross-modal correspondence heat map (Fig. 9), and nearest neighbours in the embedding table.

Plots live in `flip_hf.plots` (matplotlib, imported lazily); everything here returns arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..tokenization.collator import pad_text_batch
from ..tokenization.tokenization_flip import MASK_ID


def singular_spectrum(matrix: torch.Tensor | np.ndarray, center: bool = True) -> np.ndarray:
    """Singular values of ``matrix`` (rows = samples), sorted, divided by the largest (Fig. 2/8).

    ``center``: subtract the mean row first, so a common offset does not count as a direction.
    """
    x = torch.as_tensor(np.asarray(matrix), dtype=torch.float64)
    if x.ndim != 2 or min(x.shape) == 0:
        raise ValueError(f"singular_spectrum needs a non-empty 2-D matrix, got shape {tuple(x.shape)}.")
    if center:
        x = x - x.mean(0, keepdim=True)
    s = torch.linalg.svdvals(x).numpy()
    return s / s[0] if s[0] > 0 else s


def effective_rank(spectrum: np.ndarray, eps: float = 1e-12) -> float:
    """exp(entropy of the normalised singular values): 1 for a rank-1 matrix, d when all d are equal."""
    s = np.asarray(spectrum, dtype=np.float64)
    s = s[s > eps]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def embedding_table(model: Any, tokenizer: Any | None = None, fields: list[str] | None = None) -> torch.Tensor:
    """The ID model's feature embeddings: every value id of the given fields (all fields by default),
    without <PAD>, <MASK> and the unknown ids, which no training row updates."""
    weight = model.id_model.embedding.weight.detach().float().cpu()
    if tokenizer is None:
        return weight[2:]
    keep = []
    names = fields or tokenizer.field_names
    for name in names:
        f = tokenizer.field_names.index(name)
        start = tokenizer.field_offsets[f] + 1  # skip the field's unknown id
        keep.extend(range(start, tokenizer.field_offsets[f] + tokenizer.field_sizes[f]))
    return weight[keep]


@torch.no_grad()
def sample_representations(model: Any, tokenizer: Any, rows: Any, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``{"id": v (N, D_tab), "text": w_1 (N, D_text)}`` of raw rows, for the sides the model has."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    need_text = getattr(model, "text_model", None) is not None
    enc = tokenizer(rows, text=need_text)
    n = len(enc["feature_ids"])
    out: dict[str, list[torch.Tensor]] = {"id": [], "text": []}
    for start in range(0, n, batch_size):
        chunk = [{k: enc[k][i] for k in enc if k != "label"} for i in range(start, min(n, start + batch_size))]
        batch = pad_text_batch(chunk, tokenizer.text_tokenizer.pad_token_id or 0)
        if getattr(model, "id_model", None) is not None:
            out["id"].append(model.id_model(batch["feature_ids"].to(device)).float().cpu())
        if need_text:
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            out["text"].append(model.text_vector(model.encode_text(ids, mask), mask).float().cpu())
    model.train(was_training)
    return {k: torch.cat(v) for k, v in out.items() if v}


@torch.no_grad()
def field_correspondence(model: Any, tokenizer: Any, row: dict[str, Any]) -> np.ndarray:
    """The F x F cross-modal similarity of one row (Fig. 9): entry (i, j) is the cosine between the
    text view with field i masked and the tabular view with field j masked, both through the ICL
    projections of a `FlipForPretraining` model (field-level masking of paper Section IV-C1)."""
    if getattr(model, "icl_head", None) is None:
        raise ValueError("field_correspondence needs a FlipForPretraining model with its ICL head (use_icl=True).")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    enc = tokenizer([row], text=True)
    ids = torch.tensor(enc["input_ids"], device=device)
    fields = torch.tensor(enc["token_field_ids"], device=device)
    feats = torch.tensor(enc["feature_ids"], device=device)
    num_fields = feats.shape[1]
    mask_token = tokenizer.text_tokenizer.mask_token_id
    text_views = ids.repeat(num_fields, 1)
    text_views[fields.repeat(num_fields, 1) == torch.arange(num_fields, device=device)[:, None]] = mask_token
    tab_views = feats.repeat(num_fields, 1)
    tab_views[torch.arange(num_fields), torch.arange(num_fields)] = MASK_ID
    attention = torch.ones_like(text_views)
    states = model.encode_text(text_views, attention)
    z_text, z_tab = model.icl_head(model.text_vector(states, attention), model.id_model(tab_views))
    z_text = torch.nn.functional.normalize(z_text.float(), dim=-1)
    z_tab = torch.nn.functional.normalize(z_tab.float(), dim=-1)
    model.train(was_training)
    return (z_text @ z_tab.T).cpu().numpy()


def diagonal_hit_rate(matrices: list[np.ndarray]) -> float:
    """Share of (row, field i) whose most similar masked tabular view is the one with the same field i."""
    hits = total = 0
    for m in matrices:
        hits += int((m.argmax(1) == np.arange(m.shape[0])).sum())
        total += m.shape[0]
    return hits / total if total else float("nan")


def nearest_neighbours(model: Any, tokenizer: Any, field: str, values: list[str], k: int = 5) -> dict[str, list]:
    """The ``k`` values of ``field`` whose embeddings are closest (cosine) to each of ``values``."""
    f = tokenizer.field_names.index(field)
    start, size = tokenizer.field_offsets[f] + 1, tokenizer.field_sizes[f] - 1
    table = torch.nn.functional.normalize(
        model.id_model.embedding.weight.detach().float()[start : start + size], dim=-1
    )
    out = {}
    for value in values:
        row = tokenizer.encode_features({name: [value if name == field else None] for name in tokenizer.field_names})
        i = int(row[0, f]) - start
        if i < 0:
            raise KeyError(f"{value!r} is not in the vocabulary of field {field!r}.")
        sims = table @ table[i]
        sims[i] = -2.0
        top = sims.topk(k)
        out[value] = [(tokenizer.id_to_value(int(j) + start)[1], round(float(s), 3)) for s, j in zip(*top)]
    return out


__all__ = [
    "diagonal_hit_rate",
    "effective_rank",
    "embedding_table",
    "field_correspondence",
    "nearest_neighbours",
    "sample_representations",
    "singular_spectrum",
]
