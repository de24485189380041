"""The numbers behind the analysis plots (paper Fig. 2/8, 9) on tiny models, and that each PNG is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flip_hf import FlipConfig, FlipForCTR, FlipForPretraining
from flip_hf.analysis.plots import loss_curves_from_log, plot_heatmap, plot_loss_curves, plot_spectra, plot_sweep
from flip_hf.analysis.representations import (
    diagonal_hit_rate,
    effective_rank,
    embedding_table,
    field_correspondence,
    nearest_neighbours,
    sample_representations,
    singular_spectrum,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = dict(id_embedding_dim=8, id_mlp_hidden_sizes=[16], mtm_projection_dim=8, contrastive_projection_dim=8)
PNG = b"\x89PNG\r\n\x1a\n"


def test_rank_one_table_has_one_nonzero_singular_value():
    rng = np.random.default_rng(0)
    table = np.outer(rng.standard_normal(50), rng.standard_normal(8))
    s = singular_spectrum(table, center=False)
    assert s[0] == pytest.approx(1.0) and np.all(s[1:] < 1e-10)
    assert effective_rank(s) == pytest.approx(1.0)
    # a table of d equal, orthogonal directions has effective rank d
    assert effective_rank(singular_spectrum(np.eye(6), center=False)) == pytest.approx(6.0)
    # centring removes a common offset: a constant table has no direction left
    assert effective_rank(singular_spectrum(np.ones((10, 4)))) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        singular_spectrum(np.ones(3))


def test_effective_rank_falls_when_a_spectrum_collapses():
    rng = np.random.default_rng(1)
    spread = rng.standard_normal((200, 16))
    collapsed = spread @ np.diag([1.0] + [0.005] * 15)
    assert effective_rank(singular_spectrum(spread)) > 14 > 3 > effective_rank(singular_spectrum(collapsed))


def test_embedding_table_keeps_value_rows_only(flip_tokenizer, tiny_text_config):
    model = FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, mode="id", **SMALL))
    table = embedding_table(model, flip_tokenizer)
    values = sum(size - 1 for size in flip_tokenizer.field_sizes)  # no <PAD>, <MASK>, unknown ids
    assert table.shape == (values, 8)
    movie = embedding_table(model, flip_tokenizer, fields=["movie id"])
    assert movie.shape[0] == flip_tokenizer.field_sizes[flip_tokenizer.field_names.index("movie id")] - 1


def test_sample_representations_of_both_sides(flip_tokenizer, tiny_text_config, table):
    model = FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, text_config=tiny_text_config, **SMALL))
    reps = sample_representations(model, flip_tokenizer, {k: v[:30] for k, v in table.items()}, batch_size=8)
    assert reps["id"].shape == (30, model.id_model.output_dim) and reps["text"].shape == (30, 32)
    # the same rows give the same representations whatever the batching
    again = sample_representations(model, flip_tokenizer, {k: v[:30] for k, v in table.items()}, batch_size=30)
    torch.testing.assert_close(reps["text"], again["text"], rtol=1e-4, atol=1e-5)


class IdenticalViews(torch.nn.Module):
    """A stand-in FLIP model whose text and tabular sides encode the same thing: which fields a view
    still shows (each field a fixed random direction)."""

    def __init__(self, tokenizer, dim=16):
        super().__init__()
        self.tokenizer = tokenizer
        self.directions = torch.nn.Parameter(torch.randn(tokenizer.num_fields, dim), requires_grad=False)
        self.mask_token = tokenizer.text_tokenizer.mask_token_id
        self.current_fields = None

    def encode_text(self, ids, attention):
        return ids

    def text_vector(self, ids, attention):
        shown = torch.stack([(self.current_fields[None, :] == f) & (ids != self.mask_token) for f in range(
            self.directions.shape[0])], dim=1).any(-1)  # fmt: skip
        return shown.float() @ self.directions

    def id_model(self, feature_ids):
        return (feature_ids != 1).float() @ self.directions

    def icl_head(self, text, tab):
        return text, tab


def test_identical_views_give_a_maximal_diagonal(flip_tokenizer, table):
    row = {k: v[5] for k, v in table.items()}
    model = IdenticalViews(flip_tokenizer)
    model.current_fields = torch.tensor(flip_tokenizer([row], text=True)["token_field_ids"][0])
    m = field_correspondence(model, flip_tokenizer, row)
    assert m.shape == (flip_tokenizer.num_fields,) * 2
    assert np.all(m.argmax(1) == np.arange(m.shape[0])) and diagonal_hit_rate([m]) == 1.0
    assert diagonal_hit_rate([np.ones((3, 3)) - np.eye(3)]) == 0.0


def test_field_correspondence_on_a_real_model(flip_tokenizer, tiny_text_config, table):
    model = FlipForPretraining(FlipConfig.from_tokenizer(flip_tokenizer, text_config=tiny_text_config, **SMALL))
    m = field_correspondence(model, flip_tokenizer, {k: v[3] for k, v in table.items()})
    assert m.shape == (6, 6) and np.all(np.abs(m) <= 1 + 1e-5)
    with pytest.raises(ValueError, match="ICL head"):
        no_icl = FlipForPretraining(
            FlipConfig.from_tokenizer(flip_tokenizer, text_config=tiny_text_config, use_icl=False, **SMALL)
        )
        field_correspondence(no_icl, flip_tokenizer, {k: v[3] for k, v in table.items()})


def test_nearest_neighbours_follow_the_embeddings(flip_tokenizer):
    model = FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, mode="id", **SMALL))
    f = flip_tokenizer.field_names.index("movie id")
    start = flip_tokenizer.field_offsets[f] + 1
    with torch.no_grad():  # make movie "3" and movie "7" point the same way
        weight = model.id_model.embedding.weight
        i3 = int(
            flip_tokenizer.encode_features({n: ["3" if n == "movie id" else None] for n in flip_tokenizer.field_names})[
                0, f
            ]
        )
        i7 = int(
            flip_tokenizer.encode_features({n: ["7" if n == "movie id" else None] for n in flip_tokenizer.field_names})[
                0, f
            ]
        )
        assert i3 >= start and i7 >= start
        weight[i7] = 2.0 * weight[i3]
    nn = nearest_neighbours(model, flip_tokenizer, "movie id", ["3"], k=3)
    assert nn["3"][0][0] == "7" and nn["3"][0][1] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(KeyError, match="vocabulary"):
        nearest_neighbours(model, flip_tokenizer, "movie id", ["no such movie"])


def test_every_plot_writes_a_png(tmp_path):
    paths = [
        plot_spectra({"a": np.array([1.0, 0.5, 0.1]), "b": np.array([1.0, 0.9, 0.8])}, tmp_path / "s.png", "spectra"),
        plot_heatmap(np.eye(3), ["x", "y", "z"], tmp_path / "h.png"),
        plot_sweep([0.05, 0.1, 0.7], [0.78, 0.79, 0.785], tmp_path / "w.png", xlabel="tau"),
        plot_loss_curves(
            loss_curves_from_log([{"step": 1, "mlm_loss": 3.0}, {"step": 2, "mlm_loss": 2.0}], ["mlm_loss"]),
            tmp_path / "c.png",
        ),
    ]
    for path in paths:
        assert open(path, "rb").read(8) == PNG


def test_analyze_writes_every_figure(flip_tokenizer, tiny_text_config, table, tmp_path):
    from flip_hf.analysis.report import analyze

    pre = FlipForPretraining(FlipConfig.from_tokenizer(flip_tokenizer, text_config=tiny_text_config, **SMALL))
    pre.save_pretrained(tmp_path / "pre")
    flip_tokenizer.save_pretrained(tmp_path / "pre")
    ctr = FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, mode="id", **SMALL))
    rows = {k: v[:40] for k, v in table.items()}
    summary = analyze({"flip": str(tmp_path / "pre"), "plain": (ctr, flip_tokenizer)}, rows, tmp_path / "out", 5)
    facts = summary["checkpoints"]
    assert set(facts) == {"flip", "plain"} and facts["flip"]["heatmap_rows"] == 5
    assert 0.0 <= facts["flip"]["diagonal_hit_rate"] <= 1.0 and "diagonal_hit_rate" not in facts["plain"]
    assert (
        1.0 <= facts["plain"]["embedding_effective_rank"] <= 8.0
        and "text_representation_effective_rank" in facts["flip"]
    )
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"spectra_embeddings.png", "spectra_samples_id.png", "spectra_samples_text.png", "heatmap_flip.png"} <= names
    for path in summary["figures"].values():
        assert open(path, "rb").read(8) == PNG
