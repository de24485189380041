"""FLIP modality-alignment pretraining (paper Section IV-C): the collator's masking, the three
objectives against direct reference computations, the ablation switches, loading from a text
checkpoint, save/load, the hand-over to FlipForCTR and the pretraining Trainer.
Tiny random encoders only."""

from __future__ import annotations

import io
import logging
import math
import os

import pytest
import torch
import torch.nn.functional as F
from synthetic import make_table
from transformers import BertModel

from flip_hf import DataCollatorForFlipPretraining, FlipConfig, FlipForCTR, FlipForPretraining
from flip_hf.tokenization.collator import pad_text_batch
from flip_hf.tokenization.tokenization_flip import MASK_ID

SMALL = dict(id_embedding_dim=8, id_mlp_hidden_sizes=[32, 16], mtm_projection_dim=16, contrastive_projection_dim=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def features(flip_tokenizer, table):
    """The encoded rows (lists, unpadded), as `Dataset.map` would give them to a collator."""
    enc = flip_tokenizer(table, text=True)
    keys = ("feature_ids", "input_ids", "attention_mask", "token_field_ids")
    return [{k: enc[k][i] for k in keys} for i in range(len(enc["feature_ids"]))]


def make_model(flip_tokenizer, text_config, seed=0, **kw) -> FlipForPretraining:
    torch.manual_seed(seed)
    return FlipForPretraining(FlipConfig.from_tokenizer(flip_tokenizer, text_config=text_config, **{**SMALL, **kw}))


def collator_for(flip_tokenizer, seed=0, **config_kw) -> DataCollatorForFlipPretraining:
    """The collator of a `FlipConfig` with ``config_kw`` (the config is the one home of its settings)."""
    return DataCollatorForFlipPretraining.from_config(flip_tokenizer, FlipConfig(**config_kw), seed=seed)


def collate(flip_tokenizer, features, n=None, seed=0, **config_kw):
    return collator_for(flip_tokenizer, seed, **config_kw)(features[:n] if n else features)


# =========================================================================== collator
def value_positions(batch_field_ids, row, fields):
    return {pos for pos, f in enumerate(batch_field_ids[row].tolist()) if f in fields}


@pytest.mark.parametrize("ratio", [0.15, 0.3, 0.5])
def test_field_masking_masks_exactly_the_value_tokens_of_chosen_fields(flip_tokenizer, features, ratio):
    F_ = flip_tokenizer.num_fields
    k = max(1, round(ratio * F_))
    batch = collate(flip_tokenizer, features, text_mask_ratio=ratio, tab_mask_ratio=ratio, seed=1)
    field_ids = pad_text_batch(features, 0)["token_field_ids"]
    ids, masked, labels = batch["input_ids"], batch["masked_input_ids"], batch["mlm_labels"]
    mask_token = flip_tokenizer.text_tokenizer.mask_token_id
    special = set(flip_tokenizer.text_tokenizer.all_special_ids)
    assert "token_field_ids" not in batch
    for r in range(ids.shape[0]):
        is_masked = labels[r] != -100
        positions = set(is_masked.nonzero().flatten().tolist())
        chosen = {int(f) for f in field_ids[r][is_masked]}
        assert -1 not in chosen  # never a template, special or padding token
        assert len(chosen) == k, (r, chosen)
        assert positions == value_positions(field_ids, r, chosen)  # ALL value tokens of the chosen fields
        assert all(int(ids[r, pos]) not in special for pos in positions)
        assert bool(batch["attention_mask"][r][is_masked].all())
        # corrupted view: mask token exactly there, the original elsewhere
        assert (masked[r][is_masked] == mask_token).all()
        assert torch.equal(masked[r][~is_masked], ids[r][~is_masked])
        # labels: the original ids at masked positions, -100 elsewhere
        assert torch.equal(labels[r][is_masked], ids[r][is_masked])
        assert (labels[r][~is_masked] == -100).all()
    # tabular view: k fields per row carry the shared <MASK> id, the rest is untouched
    mtm = batch["mtm_mask"]
    assert mtm.dtype == torch.bool and mtm.shape == batch["feature_ids"].shape
    assert (mtm.sum(1) == k).all()
    assert (batch["masked_feature_ids"][mtm] == MASK_ID).all()
    assert torch.equal(batch["masked_feature_ids"][~mtm], batch["feature_ids"][~mtm])
    assert MASK_ID == flip_tokenizer.mask_feature_id == 1


def test_field_masking_is_uniform_over_fields_and_independent_per_view(flip_tokenizer, features):
    F_ = flip_tokenizer.num_fields
    batch = collate(flip_tokenizer, features, seed=2)  # 400 rows, one field per row and view
    field_ids = pad_text_batch(features, 0)["token_field_ids"]
    is_masked = batch["mlm_labels"] != -100
    text_field = torch.tensor([int(field_ids[r][is_masked[r]][0]) for r in range(len(features))])
    tab_field = batch["mtm_mask"].float().argmax(1)
    n = len(features)
    for counts in (torch.bincount(text_field, minlength=F_), torch.bincount(tab_field, minlength=F_)):
        # every field, the FIRST one included, is chosen about n/F times
        assert (counts > 0.5 * n / F_).all() and (counts < 1.5 * n / F_).all(), counts
    same = float((text_field == tab_field).float().mean())
    assert 0.05 < same < 0.35, same  # independent draws: ~1/F agreement, not always the same field
    # another seed draws other fields
    again = collate(flip_tokenizer, features, seed=3)
    assert not torch.equal(again["mtm_mask"], batch["mtm_mask"])


def test_corruptions_depend_on_the_row_not_on_the_batch(flip_tokenizer, features):
    """A row is masked (and gets its noise) the same way alone, in any batch, in any order; a new
    epoch draws anew. This is what makes accumulation, data parallelism and resuming exact."""
    collator = collator_for(flip_tokenizer, seed=7, tab_mask_ratio=0.3)
    full = collator(features[:40])
    parts = [collator(features[i : i + 8]) for i in range(0, 40, 8)]
    reversed_batch = collator(features[:40][::-1])
    for key in ("mtm_mask", "masked_feature_ids", "nce_noise"):
        assert torch.equal(full[key], torch.cat([p[key] for p in parts])), key
        assert torch.equal(full[key], reversed_batch[key].flip(0)), key
    for r in range(40):  # text views: compare each row without its padding
        part, i = parts[r // 8], r % 8
        n = int(full["attention_mask"][r].sum())
        assert torch.equal(full["masked_input_ids"][r, :n], part["masked_input_ids"][i, :n])
    collator.set_epoch(1)
    next_epoch = collator(features[:40])
    assert not torch.equal(next_epoch["mtm_mask"], full["mtm_mask"])
    collator.set_epoch(0)
    assert torch.equal(collator(features[:40])["nce_noise"], full["nce_noise"])


def test_token_masking_ablation(flip_tokenizer, features):
    batch = collate(flip_tokenizer, features, text_masking="token", seed=4)
    ids, labels = batch["input_ids"], batch["mlm_labels"]
    special = torch.tensor(sorted(set(flip_tokenizer.text_tokenizer.all_special_ids)))
    maskable = (batch["attention_mask"] == 1) & ~torch.isin(ids, special)
    is_masked = labels != -100
    assert not (is_masked & ~maskable).any()  # never special or padding tokens
    assert (is_masked.sum(1) >= 1).all()  # at least one per row
    rate = float(is_masked.sum() / maskable.sum())
    assert 0.12 < rate < 0.19, rate  # ~15 % (plus the at-least-one rule)
    # token-level: template tokens get masked too
    field_ids = pad_text_batch(features, 0)["token_field_ids"]
    assert (is_masked & (field_ids == -1)).any()
    assert (batch["masked_input_ids"][is_masked] == flip_tokenizer.text_tokenizer.mask_token_id).all()
    assert torch.equal(labels[is_masked], ids[is_masked])
    # from_config picks the switch up
    config = FlipConfig.from_tokenizer(flip_tokenizer, text_masking="token", token_mask_probability=0.3)
    collator = DataCollatorForFlipPretraining.from_config(flip_tokenizer, config)
    assert collator.text_masking == "token" and collator.token_mask_probability == 0.3
    with pytest.raises(ValueError, match="text_masking"):
        FlipConfig(text_masking="span")


# =========================================================================== NCE noise
def test_noise_samples_follow_the_frequency_table(flip_tokenizer, features):
    """NCE noise (Eq. 10): K ids per masked field, drawn from the training-set frequencies."""
    collator = collator_for(flip_tokenizer, nce_num_noise=100)
    draws = []
    for epoch in range(6):
        collator.set_epoch(epoch)
        batch = collator(features)
        assert batch["nce_noise"].shape == (len(features), 1, 100) and batch["nce_noise"].dtype == torch.long
        draws.append(batch["nce_noise"].flatten())
    draws = torch.cat(draws)
    counts = flip_tokenizer.feature_counts.double()
    expected = counts / counts.sum()
    observed = torch.bincount(draws, minlength=len(counts)).double() / draws.numel()
    assert float((observed - expected).abs().max()) < 0.01
    assert observed[counts == 0].sum() == 0  # zero-count ids (<PAD>, <MASK>, ...) never drawn
    assert counts[0] == counts[1] == 0
    # chi-square over ids with enough expected mass (df ~ #ids): far below a 6-sigma bound
    keep = expected * draws.numel() >= 5
    n = draws.numel()
    chi2 = float((((observed - expected) * n) ** 2 / (expected * n))[keep].sum())
    df = int(keep.sum()) - 1
    assert chi2 < df + 6 * math.sqrt(2 * df), (chi2, df)


# =========================================================================== the objectives
def test_mlm_head_projects_only_masked_positions(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, tie_mlm_decoder=False)
    batch = collate(flip_tokenizer, features, n=32, seed=5)
    seen = []
    hook = model.mlm_head.decoder.register_forward_hook(lambda m, args, out: seen.append((args[0].shape, out.shape)))
    out = model(**batch)
    hook.remove()
    n_masked = int((batch["mlm_labels"] != -100).sum())
    assert n_masked > 32  # several tokens per row
    assert seen == [((n_masked, 32), (n_masked, tiny_text_config.vocab_size))]
    # ... and the loss is the row-mean of token cross-entropies, averaged over rows (reference)
    model.eval()
    with torch.no_grad():
        out = model(**batch)
        w_hat = model.text_model(
            input_ids=batch["masked_input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        v = model.id_model(batch["feature_ids"])
        head = model.mlm_head
        per_row = []
        for r in range(w_hat.shape[0]):
            pos = (batch["mlm_labels"][r] != -100).nonzero().flatten()
            x = torch.cat([w_hat[r, pos], v[r].expand(len(pos), -1)], dim=-1)
            logits = head.decoder(head.norm(F.gelu(head.dense(x)))) + head.bias
            per_row.append(F.cross_entropy(logits, batch["mlm_labels"][r, pos]))
        torch.testing.assert_close(out.mlm_loss, torch.stack(per_row).mean(), rtol=1e-5, atol=1e-5)


def test_mlm_decoder_is_tied_to_the_input_embeddings(flip_tokenizer, features, tiny_text_config):
    tied = make_model(flip_tokenizer, tiny_text_config)
    untied = make_model(flip_tokenizer, tiny_text_config, tie_mlm_decoder=False)
    assert tied.config.tie_mlm_decoder and tied.mlm_head.decoder is None
    vocab, d_text = tiny_text_config.vocab_size, tiny_text_config.hidden_size
    assert untied.num_parameters() - tied.num_parameters() == vocab * d_text
    batch = collate(flip_tokenizer, features, n=8, seed=3)
    tied.eval()
    with torch.no_grad():
        before = tied(**batch).mlm_loss
        tied.text_model.get_input_embeddings().weight[batch["mlm_labels"][batch["mlm_labels"] != -100]] *= 3.0
        after_embeddings = tied(**batch)
    assert not torch.equal(before, after_embeddings.mlm_loss)  # the MLM logits read the embedding matrix
    tied.train()
    tied(**batch).loss.backward()  # and its gradient reaches the embeddings through both uses
    assert tied.text_model.get_input_embeddings().weight.grad.abs().sum() > 0


def test_icl_equals_symmetric_infonce_by_hand(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, contrastive_tau=0.5, contrastive_norm="layernorm").eval()
    batch = collate(flip_tokenizer, features, n=24, seed=6)
    with torch.no_grad():
        out = model(**batch)
        zt, za = out.text_embeds, out.tab_embeds
        assert zt.shape == za.shape == (24, 16)
        # the embeddings: norm(Linear(w_1)) and norm(Linear(v))
        w1 = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[
            :, 0
        ]
        v = model.id_model(batch["feature_ids"])
        head = model.icl_head
        torch.testing.assert_close(zt, head.text_norm(head.text_projection(w1)), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(za, head.tab_norm(head.tab_projection(v)), rtol=1e-5, atol=1e-5)
        # symmetric InfoNCE with in-batch negatives, dot product / tau
        tau = 0.5
        sim = (zt[:, None, :] * za[None, :, :]).sum(-1) / tau  # (text i, tab j)
        t2a = torch.stack([-(sim[i, i] - torch.logsumexp(sim[i, :], 0)) for i in range(24)]).mean()
        a2t = torch.stack([-(sim[j, j] - torch.logsumexp(sim[:, j], 0)) for j in range(24)]).mean()
        torch.testing.assert_close(out.icl_loss, (t2a + a2t) / 2, rtol=1e-5, atol=1e-5)


def mtm_reference(model, batch, noise):
    """MTM by hand: per-row attention over the row's real tokens only, per-field MLP, NCE."""
    head = model.mtm_head
    v_hat = model.id_model(batch["masked_feature_ids"])
    w = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    d_text = w.shape[-1]
    losses, k = [], 0
    for r in range(w.shape[0]):
        length = int(batch["attention_mask"][r].sum())
        w_r = w[r, :length]  # padding excluded by slicing it away
        attn = torch.softmax((v_hat[r] @ head.query) @ w_r.T / math.sqrt(d_text), dim=0)
        u = attn @ w_r
        row = []
        for f in batch["mtm_mask"][r].nonzero().flatten().tolist():
            h = torch.relu(u @ head.field_w1[f] + head.field_b1[f]) @ head.field_w2[f] + head.field_b2[f]
            target = batch["feature_ids"][r, f]
            s_pos = h @ head.output_embeddings[target] + head.output_bias[target]
            s_neg = head.output_embeddings[noise[k]] @ h + head.output_bias[noise[k]]
            row.append(-F.logsigmoid(s_pos) - F.logsigmoid(-s_neg).sum())
            k += 1
        losses.append(torch.stack(row).mean())
    assert k == noise.shape[0]
    return torch.stack(losses).mean()


def test_mtm_equals_reference_and_ignores_padding(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, tab_mask_ratio=0.5, nce_num_noise=5).eval()
    batch = collate(flip_tokenizer, features, n=20, seed=7, tab_mask_ratio=0.5, nce_num_noise=5)
    assert (batch["attention_mask"] == 0).any()  # rows of different lengths: there is padding
    with torch.no_grad():
        out = model(**batch)
        noise = batch["nce_noise"].reshape(-1, 5)
        assert noise.shape == (int(batch["mtm_mask"].sum()), 5)
        torch.testing.assert_close(out.mtm_loss, mtm_reference(model, batch, noise), rtol=1e-5, atol=1e-5)
        # hidden states at padded positions do not matter
        w = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        v_hat = model.id_model(batch["masked_feature_ids"])
        targets = batch["feature_ids"][batch["mtm_mask"]]
        args = (batch["attention_mask"], batch["mtm_mask"], targets, noise)
        base = model.mtm_head(v_hat, w, *args)
        junk = w.clone()
        pad = batch["attention_mask"] == 0
        junk[pad] = 1e3 * torch.randn(int(pad.sum()), w.shape[-1])
        assert torch.equal(model.mtm_head(v_hat, junk, *args), base)
        # ... while real positions do
        junk[~pad] += 1.0
        assert not torch.allclose(model.mtm_head(v_hat, junk, *args), base)


@pytest.mark.parametrize("head_input", ["attention", "id+attention"])
def test_mtm_head_input_decides_whether_the_masked_id_view_feeds_the_prediction(
    head_input, flip_tokenizer, features, tiny_text_config
):
    """With a zero attention query the attention output ``u`` no longer depends on ``v̂``: the literal
    Eq. 8 head then sends MTM no gradient into the ID model, the ``[v̂ ⊕ u]`` head still does."""
    model = make_model(flip_tokenizer, tiny_text_config, mtm_head_input=head_input, use_mlm=False, use_icl=False)
    d_text, d_tab = model.config.text_config.hidden_size, model.mtm_head.query.shape[0]
    assert model.mtm_head.field_w1.shape[1] == d_text + (d_tab if head_input == "id+attention" else 0)
    with torch.no_grad():
        model.mtm_head.query.zero_()
    out = model(**collate(flip_tokenizer, features, n=16))
    out.mtm_loss.backward()
    id_grad = sum(float(p.grad.abs().sum()) for p in model.id_model.parameters() if p.grad is not None)
    assert (id_grad > 0) if head_input == "id+attention" else (id_grad == 0), id_grad


def test_total_loss_is_the_sum(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config)
    out = model(**collate(flip_tokenizer, features, n=16))
    for part in (out.mlm_loss, out.mtm_loss, out.icl_loss):
        assert part.ndim == 0 and torch.isfinite(part) and part > 0
    torch.testing.assert_close(out.loss, out.mlm_loss + out.mtm_loss + out.icl_loss)


def _train_tiny(model, flip_tokenizer, features, steps: int = 40) -> dict[str, list[float]]:
    collator = DataCollatorForFlipPretraining.from_config(flip_tokenizer, model.config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = {"mlm_loss": [], "mtm_loss": [], "icl_loss": []}
    rows = features[:96]
    torch.manual_seed(0)
    for step in range(steps):
        collator.set_epoch(step // 3)
        out = model(**collator(rows[(step % 3) * 32 : (step % 3 + 1) * 32]))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        for k in history:
            value = float(getattr(out, k).detach())
            assert math.isfinite(value)
            history[k].append(value)
    return history


def test_each_loss_decreases(flip_tokenizer, features, tiny_text_config):
    history = _train_tiny(make_model(flip_tokenizer, tiny_text_config, seed=1), flip_tokenizer, features)
    for k in ("mlm_loss", "mtm_loss"):
        first, last = sum(history[k][:5]) / 5, sum(history[k][-5:]) / 5
        assert last < 0.9 * first, (k, first, last)
    # the contrast tells matched rows apart better than chance (log of the batch size); on its own here:
    # with the two reconstruction losses a random tiny text encoder's nearly parallel [CLS] states
    # (cosine ~0.97) give it nothing to separate within 40 steps
    icl_only = make_model(flip_tokenizer, tiny_text_config, seed=1, use_mlm=False, use_mtm=False, contrastive_tau=0.1)
    icl = _train_tiny(icl_only, flip_tokenizer, features, steps=60)["icl_loss"]
    assert sum(icl[-5:]) / 5 < 0.9 * math.log(32) < sum(icl[:5]) / 5


# =========================================================================== ablations
def test_ablation_without_mlm(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, use_mlm=False)
    assert model.mlm_head is None and not any(n.startswith("mlm_head") for n, _ in model.named_parameters())
    batch = collate(flip_tokenizer, features, n=8)
    out = model(**batch)
    assert out.mlm_loss == 0 and out.mtm_loss > 0 and out.icl_loss > 0
    # the masked text view is not needed at all
    del batch["masked_input_ids"], batch["mlm_labels"]
    model(**batch).loss.backward()


def test_ablation_without_mtm(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, use_mtm=False)
    assert model.mtm_head is None and not any(n.startswith("mtm_head") for n, _ in model.named_parameters())
    batch = collate(flip_tokenizer, features, n=8)
    out = model(**batch)
    assert out.mtm_loss == 0 and out.mlm_loss > 0 and out.icl_loss > 0
    del batch["masked_feature_ids"], batch["mtm_mask"], batch["nce_noise"]
    model(**batch).loss.backward()


def test_ablation_without_icl(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, use_icl=False)
    assert model.icl_head is None and not any(n.startswith("icl_head") for n, _ in model.named_parameters())
    out = model(**collate(flip_tokenizer, features, n=8))
    assert out.icl_loss == 0 and out.mlm_loss > 0 and out.mtm_loss > 0
    assert out.text_embeds is None and out.tab_embeds is None


def test_ablation_icl_only(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, use_mlm=False, use_mtm=False)
    assert model.mlm_head is None and model.mtm_head is None
    batch = collate(flip_tokenizer, features, n=8)
    calls = []
    hook = model.text_model.register_forward_hook(
        lambda m, a, k, o: calls.append(k["input_ids"].shape), with_kwargs=True
    )
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], feature_ids=batch["feature_ids"])
    hook.remove()
    assert calls == [batch["input_ids"].shape]  # one clean text pass only
    assert out.mlm_loss == 0 and out.mtm_loss == 0 and out.icl_loss > 0
    torch.testing.assert_close(out.loss, out.icl_loss)


def test_ablation_without_joint_reconstruction(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, joint_reconstruction=False).eval()
    d_text, d_tab = 32, model.id_model.output_dim
    assert model.mlm_head.dense.in_features == d_text and model.mlm_head.d_tab == 0
    assert model.mtm_head.query is None and "mtm_head.query" not in dict(model.named_parameters())
    assert model.mtm_head.field_w1.shape[1] == d_tab
    batch = collate(flip_tokenizer, features, n=12, seed=8)
    widths = []
    hook = model.mlm_head.dense.register_forward_hook(lambda m, a, o: widths.append(a[0].shape[-1]))
    with torch.no_grad():
        out = model(**batch)
        assert widths == [d_text]
        # each modality reconstructs alone: MLM ignores the tabular view, MTM ignores the text view
        other_tab = dict(batch, feature_ids=torch.roll(batch["feature_ids"], 1, 0))
        assert torch.equal(model(**other_tab).mlm_loss, out.mlm_loss)
        other_text = dict(
            batch,
            input_ids=torch.roll(batch["input_ids"], 1, 0),
            attention_mask=torch.roll(batch["attention_mask"], 1, 0),
        )
        assert torch.equal(model(**other_text).mtm_loss, out.mtm_loss)
        # MTM reads v̂ directly: reference with the field MLP on v̂
        head = model.mtm_head
        v_hat = model.id_model(batch["masked_feature_ids"])
        noise = batch["nce_noise"].reshape(int(batch["mtm_mask"].sum()), -1)
        rows, fields = batch["mtm_mask"].nonzero(as_tuple=True)
        per_row = {}
        for i, (r, f) in enumerate(zip(rows.tolist(), fields.tolist())):
            h = torch.relu(v_hat[r] @ head.field_w1[f] + head.field_b1[f]) @ head.field_w2[f] + head.field_b2[f]
            t = batch["feature_ids"][r, f]
            loss = -F.logsigmoid(h @ head.output_embeddings[t] + head.output_bias[t])
            loss = loss - F.logsigmoid(-(head.output_embeddings[noise[i]] @ h + head.output_bias[noise[i]])).sum()
            per_row.setdefault(r, []).append(loss)
        ref = torch.stack([torch.stack(v).mean() for v in per_row.values()]).mean()
        torch.testing.assert_close(out.mtm_loss, ref, rtol=1e-5, atol=1e-5)
    hook.remove()
    # and with joint reconstruction the MLM head does read v
    joint = make_model(flip_tokenizer, tiny_text_config)
    assert joint.mlm_head.dense.in_features == d_text + d_tab and joint.mtm_head.query.shape == (d_tab, d_text)


def test_token_masking_model_trains(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, text_masking="token")
    collator = DataCollatorForFlipPretraining.from_config(flip_tokenizer, model.config)
    assert collator.text_masking == "token"
    out = model(**collator(features[:8]))
    assert torch.isfinite(out.loss) and out.mlm_loss > 0
    out.loss.backward()


# =========================================================================== checkpoints
def test_from_text_pretrained_keeps_the_encoder(flip_tokenizer, text_tokenizer, tiny_text_config, tmp_path):
    torch.manual_seed(3)
    plm = BertModel(tiny_text_config)  # with a pooler, as most checkpoints
    plm.save_pretrained(tmp_path / "plm")
    text_tokenizer.save_pretrained(tmp_path / "plm")
    saved = {k: v.clone() for k, v in plm.state_dict().items()}
    torch.manual_seed(4)  # a different RNG state: nothing may be re-initialised
    model = FlipForPretraining.from_text_pretrained(str(tmp_path / "plm"), tokenizer=flip_tokenizer, **SMALL)
    state = model.text_model.state_dict()
    assert set(state) == {k for k in saved if not k.startswith("pooler.")}
    for k, v in state.items():
        assert torch.equal(v, saved[k]), k
    assert model.config.text_config.hidden_size == 32 and model.config.field_names == flip_tokenizer.field_names
    # the MLM head projects with the input embeddings (tied), or starts from a copy of them (untied)
    assert model.mlm_head.decoder is None
    untied = FlipForPretraining.from_text_pretrained(
        str(tmp_path / "plm"), tokenizer=flip_tokenizer, tie_mlm_decoder=False, **SMALL
    )
    assert torch.equal(untied.mlm_head.decoder.weight, saved["embeddings.word_embeddings.weight"])
    with pytest.raises(ValueError, match="tokenizer"):
        FlipForPretraining.from_text_pretrained(str(tmp_path / "plm"))


def test_pretraining_save_load_identical(flip_tokenizer, features, tiny_text_config, tmp_path):
    model = make_model(flip_tokenizer, tiny_text_config)
    # move away from the initial weights so that re-initialisation would show
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        model(**collate(flip_tokenizer, features, n=16)).loss.backward()
        opt.step()
    model.save_pretrained(tmp_path)
    files = os.listdir(tmp_path)
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    loaded = FlipForPretraining.from_pretrained(tmp_path)
    for (k1, p1), (k2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(p1, p2), k1
    batch = collate(flip_tokenizer, features, n=16, seed=9)  # fixed masks
    model.eval()
    loaded.eval()
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    for k in ("loss", "mlm_loss", "mtm_loss", "icl_loss", "text_embeds", "tab_embeds"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k


def capture_transformers_log():
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    return buffer, handler


@pytest.mark.parametrize("mode", ["joint", "id", "plm"])
def test_ctr_model_loads_the_aligned_encoders(mode, flip_tokenizer, features, tiny_text_config, tmp_path):
    pre = make_model(flip_tokenizer, tiny_text_config, seed=2)
    with torch.no_grad():  # make every weight distinctive
        for p in pre.parameters():
            p.add_(0.01 * torch.randn_like(p))
    pre.save_pretrained(tmp_path)
    logger = logging.getLogger("transformers")
    buffer, handler = capture_transformers_log()
    logger.addHandler(handler)
    try:
        ctr = FlipForCTR.from_pretrained(tmp_path, mode=mode)
    finally:
        logger.removeHandler(handler)
    log = buffer.getvalue()
    assert "UNEXPECTED" not in log and "MISSING" not in log and "mlm_head" not in log, log
    assert ctr.config.mode == mode
    sd = pre.state_dict()
    if mode in ("joint", "id"):
        for k, v in ctr.id_model.state_dict().items():
            assert torch.equal(v, sd["id_model." + k]), k
    else:
        assert ctr.id_model is None
    if mode in ("joint", "plm"):
        for k, v in ctr.text_model.state_dict().items():
            assert torch.equal(v, sd["text_model." + k]), k
    else:
        assert ctr.text_model is None
    if mode == "joint":
        assert math.isclose(float(ctr.alpha.detach()), ctr.config.alpha_init, rel_tol=1e-5)
    # the new CTR heads are initialised (finite) and the model runs
    batch = collate(flip_tokenizer, features, n=4)
    out = ctr(feature_ids=batch["feature_ids"], input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert torch.isfinite(out.logits).all()


def test_load_report_capture_works(flip_tokenizer, tiny_text_config, tmp_path):
    """Control for the test above: a load that DOES miss weights is reported and captured."""
    import json

    make_model(flip_tokenizer, tiny_text_config).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["SomethingElse"]  # not a pretraining checkpoint any more
    (tmp_path / "config.json").write_text(json.dumps(config))
    logger = logging.getLogger("transformers")
    buffer, handler = capture_transformers_log()
    logger.addHandler(handler)
    try:
        FlipForCTR.from_pretrained(tmp_path, mode="id")
    finally:
        logger.removeHandler(handler)
    assert "MISSING" in buffer.getvalue() and "id_head" in buffer.getvalue()


# =========================================================================== Trainer
def test_pretraining_trainer_logs_each_loss(flip_tokenizer, tiny_text_config, tmp_path):
    import datasets
    from transformers import TrainingArguments

    from flip_hf.training.trainer import FlipPretrainingTrainer

    ds = flip_tokenizer.encode_dataset(datasets.Dataset.from_dict(make_table(96, seed=5)), text=True)
    model = make_model(flip_tokenizer, tiny_text_config)
    args = TrainingArguments(
        output_dir=str(tmp_path / "pre"),
        per_device_train_batch_size=16,
        max_steps=6,
        learning_rate=1e-3,
        logging_steps=2,
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = FlipPretrainingTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        data_collator=DataCollatorForFlipPretraining.from_config(flip_tokenizer, model.config),
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3
    for entry in logs:
        for k in ("mlm_loss", "mtm_loss", "icl_loss"):
            assert k in entry and math.isfinite(entry[k]) and entry[k] > 0, entry
        assert entry["loss"] == pytest.approx(entry["mlm_loss"] + entry["mtm_loss"] + entry["icl_loss"], rel=1e-2)
    trainer.save_model(str(tmp_path / "final"))
    files = os.listdir(tmp_path / "final")
    assert "training_args.bin" not in files and "model.safetensors" in files
    FlipForCTR.from_pretrained(tmp_path / "final", mode="id")


# =========================================================================== fidelity options
def test_batchnorm_models_see_each_view_alone(flip_tokenizer, features, tiny_text_config):
    """AFN normalises over the batch: clean and masked rows must not share BatchNorm statistics."""
    model = make_model(flip_tokenizer, tiny_text_config, id_model="afn", use_mlm=False)
    assert model.id_model.uses_batch_statistics
    batch = collate(flip_tokenizer, features, n=16, seed=2)
    calls = []
    hook = model.id_model.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    out = model(**batch)
    hook.remove()
    assert calls == [16, 16]  # two calls, one per view
    # the clean representation is exactly the ID model's output on the clean rows alone
    model.icl_head.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        v = model.id_model(batch["feature_ids"])
        cat = model.id_model(torch.cat([batch["feature_ids"], batch["masked_feature_ids"]]))[:16]
        assert not torch.allclose(v, cat)  # what one shared call would have given instead
        z_tab = model.icl_head(torch.zeros(16, 32), v)[1]
        torch.testing.assert_close(out.tab_embeds, z_tab)
    # models without batch statistics keep the single call over [clean ; masked]
    dcn = make_model(flip_tokenizer, tiny_text_config, use_mlm=False)
    calls.clear()
    hook = dcn.id_model.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    dcn(**batch)
    hook.remove()
    assert calls == [32]


@pytest.mark.parametrize("norm", ["layernorm", "l2", "layernorm+l2"])
def test_contrastive_norm_options(flip_tokenizer, features, tiny_text_config, norm):
    model = make_model(flip_tokenizer, tiny_text_config, contrastive_norm=norm, contrastive_tau=0.5).eval()
    batch = collate(flip_tokenizer, features, n=12, seed=4)
    with torch.no_grad():
        out = model(**batch)
        head = model.icl_head
        w1 = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        z = head.text_projection(w1[:, 0])
        if norm != "l2":
            z = head.text_norm(z)
        if norm != "layernorm":
            z = F.normalize(z, dim=-1)
        torch.testing.assert_close(out.text_embeds, z, rtol=1e-5, atol=1e-5)
        norms = out.text_embeds.norm(dim=-1)
        if norm == "layernorm":  # LayerNorm output: |z|^2 = d (weights 1, biases 0 at init, variance >> eps)
            torch.testing.assert_close(norms**2, torch.full_like(norms, 16.0), rtol=1e-3, atol=1e-3)
        else:  # unit vectors: the logits are cosines / tau
            torch.testing.assert_close(norms, torch.ones_like(norms))
            assert (out.text_embeds @ out.tab_embeds.T / 0.5).abs().max() <= 1 / 0.5 + 1e-5
    assert (head.text_norm is None) == (norm == "l2")
    with pytest.raises(ValueError, match="contrastive_norm"):
        FlipConfig(contrastive_norm="batchnorm")


def test_mean_text_pooling_reaches_icl(flip_tokenizer, features, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, text_pooling="mean").eval()
    batch = collate(flip_tokenizer, features, n=10, seed=5)
    assert (batch["attention_mask"] == 0).any()
    with torch.no_grad():
        out = model(**batch)
        w = model.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mean = torch.stack([w[r, : int(batch["attention_mask"][r].sum())].mean(0) for r in range(10)])
        z = torch.nn.functional.normalize(model.icl_head.text_projection(mean), dim=-1)  # the default l2
        torch.testing.assert_close(out.text_embeds, z, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="text_pooling"):
        FlipConfig(text_pooling="max")
