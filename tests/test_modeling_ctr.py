"""FlipConfig and FlipForCTR (SPEC section 4): config round trips and errors, the three CTR modes,
save/load, predict_proba on raw rows, Trainer integration and the Auto classes."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from synthetic import make_table
from transformers import BertConfig

from flip_hf import (
    DataCollatorForCTR,
    FlipConfig,
    FlipForCTR,
    FlipTabularTokenizer,
    compute_ctr_metrics,
    list_id_models,
)
from flip_hf.training.loops import predict_ctr

pytestmark = pytest.mark.usefixtures("one_torch_thread")


SMALL_ID = dict(id_embedding_dim=8, id_mlp_hidden_sizes=[32, 16])
# keep the slower interaction layers small too (the defaults are tested in test_id_models.py)
SMALL_KWARGS = {
    "afn": {"logarithmic_neurons": 16},
    "xdeepfm": {"cin_layer_sizes": [8, 8]},
    "autoint": {"attention_dim": 8},
}


def make_config(flip_tokenizer, text_config=None, **kw) -> FlipConfig:
    return FlipConfig.from_tokenizer(flip_tokenizer, text_config=text_config, **{**SMALL_ID, **kw})


def make_model(flip_tokenizer, text_config, mode="joint", seed=0, **kw) -> FlipForCTR:
    torch.manual_seed(seed)
    return FlipForCTR(make_config(flip_tokenizer, text_config if mode != "id" else None, mode=mode, **kw))


def batch_of(flip_tokenizer, table, n=16, text=True):
    rows = {k: v[:n] for k, v in table.items()}
    enc = flip_tokenizer(rows, text=text, padding=True, return_tensors="pt")
    enc.pop("token_field_ids", None)
    labels = enc.pop("label").float()
    return dict(enc), labels


def safetensors_keys(folder) -> list[str]:
    files = [f for f in os.listdir(folder) if f.endswith(".safetensors")]
    assert files, f"no safetensors file in {os.listdir(folder)}"
    keys = []
    for name in files:
        with safe_open(os.path.join(folder, name), "pt") as fh:
            keys += list(fh.keys())
    return keys


# ----------------------------------------------------------------------------------- config
def test_config_round_trip_with_text_sub_config(flip_tokenizer, tiny_text_config, tmp_path):
    config = make_config(
        flip_tokenizer,
        tiny_text_config,
        id_model="deepfm",
        mode="plm",
        contrastive_tau=0.5,
        nce_num_noise=7,
        text_masking="token",
        joint_reconstruction=False,
        alpha_init=0.3,
    )
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "flip" and saved["text_config"]["model_type"] == "bert"
    loaded = FlipConfig.from_pretrained(tmp_path)
    assert isinstance(loaded.text_config, BertConfig)
    assert loaded.text_config.hidden_size == 32 and loaded.text_config.vocab_size == tiny_text_config.vocab_size
    assert loaded.text_config.num_hidden_layers == 2
    for name in (
        "field_names",
        "feature_vocab_size",
        "id_model",
        "id_embedding_dim",
        "id_mlp_hidden_sizes",
        "mode",
        "contrastive_tau",
        "nce_num_noise",
        "text_masking",
        "joint_reconstruction",
        "alpha_init",
        "text_mask_ratio",
        "tab_mask_ratio",
        "mtm_projection_dim",
        "contrastive_projection_dim",
    ):
        assert getattr(loaded, name) == getattr(config, name), name
    assert loaded.field_names == flip_tokenizer.field_names
    # an ID-only config round-trips without a text side
    id_config = make_config(flip_tokenizer, None, mode="id")
    id_config.save_pretrained(tmp_path / "id")
    assert FlipConfig.from_pretrained(tmp_path / "id").text_config is None


def test_config_defaults_follow_the_paper():
    config = FlipConfig()
    assert config.id_model == "dcnv2" and config.id_embedding_dim == 32
    assert config.id_mlp_hidden_sizes == [300, 300, 128]
    assert config.text_mask_ratio == config.tab_mask_ratio == 0.15
    assert config.nce_num_noise == 25 and config.contrastive_tau == 0.7 and config.contrastive_projection_dim == 128
    assert config.use_mlm and config.use_mtm and config.use_icl and config.joint_reconstruction
    assert config.text_masking == "field" and config.mode == "joint"


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"mode": "both"}, "mode"),
        ({"text_masking": "span"}, "text_masking"),
        ({"text_mask_ratio": 0.0}, "text_mask_ratio"),
        ({"tab_mask_ratio": 1.5}, "tab_mask_ratio"),
        ({"contrastive_tau": 0.0}, "contrastive_tau"),
        ({"nce_num_noise": 0}, "nce_num_noise"),
        ({"alpha_init": 1.2}, "alpha_init"),
        ({"feature_vocab_size": 2}, "feature_vocab_size"),
    ],
)
def test_bad_config_values_are_named(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        FlipConfig(**kwargs)


def test_unknown_id_model_lists_known_names(flip_tokenizer):
    with pytest.raises(ValueError) as err:
        FlipForCTR(make_config(flip_tokenizer, None, mode="id", id_model="fancynet"))
    msg = str(err.value)
    assert "fancynet" in msg
    for name in list_id_models():
        assert name in msg


def test_config_without_tabular_side_or_text_side_errors(flip_tokenizer):
    with pytest.raises(ValueError, match="from_tokenizer"):
        FlipForCTR(FlipConfig(mode="id"))
    with pytest.raises(ValueError, match="text_config"):
        FlipForCTR(make_config(flip_tokenizer, None, mode="joint"))


def test_check_tokenizer_names_the_mismatch(flip_tokenizer, text_tokenizer, tiny_text_config):
    config = make_config(flip_tokenizer, tiny_text_config)
    config.check_tokenizer(flip_tokenizer)  # matching: no error
    wrong_size = make_config(flip_tokenizer, tiny_text_config)
    wrong_size.feature_vocab_size = flip_tokenizer.feature_vocab_size + 5
    with pytest.raises(ValueError, match="feature ids") as err:
        wrong_size.check_tokenizer(flip_tokenizer)
    assert str(flip_tokenizer.feature_vocab_size) in str(err.value)
    assert str(flip_tokenizer.feature_vocab_size + 5) in str(err.value)
    # a tokenizer fitted on other fields
    other = FlipTabularTokenizer.from_dataset(
        {k: v for k, v in make_table(50, seed=3).items() if k != "title"}, text_tokenizer=text_tokenizer
    )
    with pytest.raises(ValueError, match="fields"):
        config.check_tokenizer(other)
    # a text encoder whose vocabulary is smaller than the text tokenizer's
    small_vocab = BertConfig(**{**tiny_text_config.to_dict(), "vocab_size": 1000})
    with pytest.raises(ValueError, match="text tokenizer") as err:
        make_config(flip_tokenizer, small_vocab).check_tokenizer(flip_tokenizer)
    assert "1000" in str(err.value)
    # ... which an ID-only model does not care about
    make_config(flip_tokenizer, small_vocab, mode="id").check_tokenizer(flip_tokenizer)
    # predict_proba checks the tokenizer first
    model = FlipForCTR(wrong_size)
    with pytest.raises(ValueError, match="mismatch"):
        model.predict_proba(make_table(3, seed=1), flip_tokenizer)


# ----------------------------------------------------------------------------------- modes
@pytest.mark.parametrize("name", list_id_models())
def test_every_id_model_trains_inside_flip_for_ctr(name, flip_tokenizer, table):
    model = make_model(flip_tokenizer, None, mode="id", id_model=name, id_model_kwargs=SMALL_KWARGS.get(name, {}))
    assert model.text_model is None and model.plm_head is None and type(model.id_model).model_name == name
    inputs, labels = batch_of(flip_tokenizer, table, text=False)
    out = model(**inputs, labels=labels)
    assert out.logits.shape == (16,) and torch.isfinite(out.logits).all()
    assert torch.allclose(out.loss, F.binary_cross_entropy_with_logits(out.logits, labels))
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    emb_grads = [p.grad for p in model.id_model.embedding.parameters()]
    assert emb_grads and any(g.abs().sum() > 0 for g in emb_grads)
    assert model.id_head.weight.grad.abs().sum() > 0


def test_joint_and_plm_modes_forward(flip_tokenizer, table, tiny_text_config):
    inputs, labels = batch_of(flip_tokenizer, table)
    plm = make_model(flip_tokenizer, tiny_text_config, mode="plm")
    assert plm.id_model is None and plm.id_head is None
    out = plm(**inputs, labels=labels)
    assert out.logits.shape == (16,) and out.id_logits is None and out.alpha is None
    assert torch.allclose(out.loss, F.binary_cross_entropy_with_logits(out.logits, labels))
    out.loss.backward()
    assert plm.text_model.embeddings.word_embeddings.weight.grad is not None
    # the pooler is stripped (FLIP reads [CLS] and token states only)
    assert getattr(plm.text_model, "pooler", None) is None
    joint = make_model(flip_tokenizer, tiny_text_config, mode="joint")
    out = joint(**inputs, labels=labels)
    assert out.logits.shape == out.id_logits.shape == out.plm_logits.shape == out.alpha.shape == (16,)
    # missing view -> clear error
    with pytest.raises(ValueError, match="input_ids"):
        joint(feature_ids=inputs["feature_ids"])
    with pytest.raises(ValueError, match="feature_ids"):
        joint(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])


def test_joint_loss_is_sum_of_three_bce_terms(flip_tokenizer, table, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, mode="joint", alpha_init=0.3)
    model.eval()
    inputs, labels = batch_of(flip_tokenizer, table)
    out = model(**inputs, labels=labels)
    assert math.isclose(float(model.alpha.detach()), 0.3, rel_tol=1e-5)
    # by hand, from the encoders and the two linear heads
    v = model.id_model(inputs["feature_ids"])
    w1 = model.text_model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state[
        :, 0
    ]
    id_logit = model.id_head(v).squeeze(-1)
    plm_logit = model.plm_head(w1).squeeze(-1)
    a = torch.sigmoid(model.alpha_logit)
    joint_logit = a * id_logit + (1 - a) * plm_logit
    bce = lambda z: -(labels * torch.log(torch.sigmoid(z)) + (1 - labels) * torch.log(1 - torch.sigmoid(z))).mean()
    expected = bce(joint_logit) + bce(id_logit) + bce(plm_logit)
    torch.testing.assert_close(out.logits, joint_logit)
    torch.testing.assert_close(out.id_logits, id_logit)
    torch.testing.assert_close(out.plm_logits, plm_logit)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)


def test_alpha_stays_in_unit_interval(flip_tokenizer, table, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, mode="joint")
    inputs, labels = batch_of(flip_tokenizer, table)
    for direction in (+1.0, -1.0):
        with torch.no_grad():
            model.alpha_logit.zero_()
        opt = torch.optim.SGD([model.alpha_logit], lr=1e4)
        for _ in range(5):
            opt.zero_grad()
            (-direction * model(**inputs, labels=labels).alpha.mean()).backward()  # push alpha to one side
            opt.step()
            alpha = float(model.alpha.detach())
            assert 0.0 <= alpha <= 1.0
        assert (alpha > 0.99) if direction > 0 else (alpha < 0.01)
        out = model(**inputs, labels=labels)
        assert ((out.alpha >= 0) & (out.alpha <= 1)).all() and torch.isfinite(out.loss)
    # large Adam steps on the real loss
    with torch.no_grad():
        model.alpha_logit.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=5.0)
    for _ in range(5):
        opt.zero_grad()
        model(**inputs, labels=labels).loss.backward()
        opt.step()
        assert 0.0 <= float(model.alpha.detach()) <= 1.0


# ----------------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("mode", ["joint", "id", "plm"])
def test_save_load_identical_logits(mode, flip_tokenizer, table, tiny_text_config, tmp_path):
    model = make_model(flip_tokenizer, tiny_text_config, mode=mode, alpha_init=0.7).eval()
    with torch.no_grad():  # move every weight (alpha included) off its initial value: re-init would show
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    inputs, _ = batch_of(flip_tokenizer, table, text=mode != "id")
    model.save_pretrained(tmp_path)
    files = os.listdir(tmp_path)
    assert "model.safetensors" in files and not any(f.endswith(".bin") for f in files), files
    loaded = FlipForCTR.from_pretrained(tmp_path).eval()
    assert loaded.config.mode == mode
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)
    for (k1, p1), (k2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and torch.equal(p1, p2), k1


def test_id_mode_checkpoint_has_no_text_weights(flip_tokenizer, table, tiny_text_config, tmp_path):
    # built from a config that still HAS a text side (as after pretraining): mode="id" drops it
    config = make_config(flip_tokenizer, tiny_text_config, mode="id")
    model = FlipForCTR(config).eval()
    assert model.text_model is None
    model.save_pretrained(tmp_path)
    keys = safetensors_keys(tmp_path)
    assert keys and not any(k.startswith("text_model") or k.startswith("plm_head") for k in keys), keys
    assert all(k.startswith(("id_model.", "id_head.")) for k in keys), keys
    loaded = FlipForCTR.from_pretrained(tmp_path).eval()
    assert loaded.text_model is None
    inputs, _ = batch_of(flip_tokenizer, table, text=False)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)
    # the ID model serves with feature ids only
    probs = loaded.predict_proba(make_table(5, seed=2), flip_tokenizer)
    assert probs.shape == (5,)


# ----------------------------------------------------------------------------------- predict_proba
@pytest.mark.parametrize("mode", ["joint", "id", "plm"])
def test_predict_proba_on_raw_rows(mode, flip_tokenizer, table, tiny_text_config):
    model = make_model(flip_tokenizer, tiny_text_config, mode=mode)
    n = 7
    new = make_table(n, seed=11)
    new.pop("label")
    new["user id"][2] = "never-seen-user"  # unseen value
    new["genres"][3] = "Documentary"  # unseen value
    new["movie id"][4] = None  # missing value
    new["title"][5] = float("nan")  # missing value (pandas style)
    list_of_dicts = [dict(zip(new, vals)) for vals in zip(*new.values())]
    frame = pd.DataFrame(list_of_dicts)
    for training in (True, False):
        model.train(training)
        p_cols = model.predict_proba(new, flip_tokenizer, batch_size=3)  # several batches
        assert model.training == training
        p_list = model.predict_proba(list_of_dicts, flip_tokenizer)
        p_frame = model.predict_proba(frame, flip_tokenizer)
        p_one = model.predict_proba(list_of_dicts[4], flip_tokenizer)
        assert model.training == training
        assert p_cols.shape == p_list.shape == p_frame.shape == (n,) and p_one.shape == (1,)
        assert ((p_cols > 0) & (p_cols < 1)).all()
        torch.testing.assert_close(p_cols, p_list)
        torch.testing.assert_close(p_cols, p_frame)
        torch.testing.assert_close(p_one, p_cols[4:5], rtol=1e-5, atol=1e-6)
    # equals sigmoid of the forward logits (eval mode, no dropout)
    model.eval()
    enc = flip_tokenizer(new, text=mode != "id", padding=True, return_tensors="pt")
    enc.pop("token_field_ids", None)
    with torch.no_grad():
        logits = model(**enc).logits
    torch.testing.assert_close(model.predict_proba(new, flip_tokenizer), torch.sigmoid(logits.double()))
    # unseen / missing values map to the field's unknown id
    assert int(enc["feature_ids"][2, 0]) == flip_tokenizer.unknown_feature_id("user id")
    assert int(enc["feature_ids"][4, 3]) == flip_tokenizer.unknown_feature_id("movie id")


# ----------------------------------------------------------------------------------- Trainer
def test_trainer_learns_the_synthetic_table(flip_tokenizer, text_tokenizer, tiny_text_config, tmp_path):
    import datasets
    from transformers import TrainingArguments

    from flip_hf.training.trainer import FlipTrainer

    full = make_table(3000, seed=0)
    train = {k: v[:2400] for k, v in full.items()}
    test = {k: v[2400:] for k, v in full.items()}
    tok = FlipTabularTokenizer.from_dataset(train, text_tokenizer=text_tokenizer)
    ds_train = tok.encode_dataset(datasets.Dataset.from_dict(train), text=True)
    ds_test = tok.encode_dataset(datasets.Dataset.from_dict(test), text=True)
    assert set(ds_train.column_names) >= {"feature_ids", "input_ids", "attention_mask", "label"}
    torch.manual_seed(0)
    model = FlipForCTR(FlipConfig.from_tokenizer(tok, text_config=tiny_text_config, mode="joint", **SMALL_ID))
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=64,
        per_device_eval_batch_size=256,
        num_train_epochs=3,
        learning_rate=3e-3,
        use_cpu=True,
        report_to="none",
        remove_unused_columns=False,
        label_names=["labels"],
        save_strategy="no",
        logging_steps=20,
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = FlipTrainer(
        model=model,
        args=args,
        train_dataset=ds_train,
        eval_dataset=ds_test,
        data_collator=DataCollatorForCTR(tok),
        compute_metrics=compute_ctr_metrics,
        text_learning_rate=1e-4,
    )
    trainer.train()
    # three optimizer groups' rates (before the schedule): the text encoder's, the fusion logit's (no
    # decay), the Trainer's
    groups = {id(p): g for g in trainer.optimizer.param_groups for p in g["params"]}
    assert groups[id(model.alpha_logit)]["initial_lr"] == model.config.alpha_learning_rate == 1e-2
    assert groups[id(model.alpha_logit)]["weight_decay"] == 0.0
    assert all(groups[id(p)]["initial_lr"] == 1e-4 for p in model.text_model.parameters())
    assert all(groups[id(p)]["initial_lr"] == 3e-3 for p in model.id_model.parameters())
    assert sum(len(g["params"]) for g in trainer.optimizer.param_groups) == len(list(model.parameters()))
    logged = [h["alpha"] for h in trainer.state.log_history if "alpha" in h]
    assert len(logged) >= 3 and all(0 < a < 1 for a in logged) and logged[-1] != 0.5, logged
    metrics, arrays = predict_ctr(trainer, {"test": ds_test}, "test")
    assert metrics["alpha"] == pytest.approx(float(model.alpha.detach()), abs=1e-6)
    assert set(arrays) == {"probabilities", "labels", "id_probabilities", "plm_probabilities"}
    assert len(arrays["probabilities"]) == len(ds_test) and 0.5 < metrics["id_auc"] <= 1 and 0 < metrics["plm_auc"] <= 1
    alpha = metrics["alpha"]  # the joint logit is alpha * id + (1 - alpha) * plm (Eq. 15)
    logit = lambda p: np.log(p) - np.log1p(-p)  # noqa: E731
    joint = alpha * logit(arrays["id_probabilities"]) + (1 - alpha) * logit(arrays["plm_probabilities"])
    np.testing.assert_allclose(logit(arrays["probabilities"]), joint, atol=1e-3)
    metrics = trainer.evaluate()
    print("CTR metrics", metrics)
    assert metrics["eval_auc"] > 0.65, metrics
    assert np.isfinite(metrics["eval_logloss"]) and metrics["eval_logloss"] < 0.69, metrics
    out_dir = tmp_path / "final"
    trainer.save_model(str(out_dir))
    files = os.listdir(out_dir)
    assert "training_args.bin" not in files and "training_args.json" in files, files
    assert json.loads((out_dir / "training_args.json").read_text())["learning_rate"] == 3e-3
    assert "model.safetensors" in files
    reloaded = FlipForCTR.from_pretrained(out_dir).eval()
    rows = {k: v[:20] for k, v in test.items()}
    torch.testing.assert_close(reloaded.predict_proba(rows, tok), model.eval().predict_proba(rows, tok))


# ----------------------------------------------------------------------------------- Auto classes
def test_auto_classes_resolve_flip(flip_tokenizer, tiny_text_config, tmp_path):
    from transformers import AutoConfig, AutoModel

    import flip_hf  # noqa: F401  (registers the Auto classes)

    model = make_model(flip_tokenizer, tiny_text_config, mode="plm")
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, FlipConfig) and config.mode == "plm"
    auto = AutoModel.from_pretrained(tmp_path)
    assert isinstance(auto, FlipForCTR)
    assert isinstance(AutoModel.from_config(make_config(flip_tokenizer, None, mode="id")), FlipForCTR)


def test_a_misspelt_input_is_an_error_not_ignored(flip_tokenizer, table):
    model = make_model(flip_tokenizer, None, mode="id")
    inputs, labels = batch_of(flip_tokenizer, table, text=False)
    with pytest.raises(TypeError, match="feature_idz"):
        model(feature_idz=inputs["feature_ids"], labels=labels)
