"""The PLM baselines of paper Table II (CTR-BERT, P5): user/item split, inputs, forward/backward, P5's
yes/no scoring, save/load, predictions on raw rows and tiny end-to-end runs of `baseline_main`."""

from __future__ import annotations

import json
import math
import os
import re

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from synthetic import make_table, write_table_csv
from transformers import (
    AutoConfig,
    AutoModel,
    BertModel,
    T5Config,
    T5ForConditionalGeneration,
    T5Tokenizer,
    TrainerState,
)

from flip_hf import FlipTabularTokenizer
from flip_hf.baselines import (
    P5_TEMPLATES,
    CTRBertForCTR,
    CTRBertProcessor,
    P5ForCTR,
    P5Processor,
    build_baseline,
    load_baseline,
    load_text_tokenizer,
)
from flip_hf.baselines.cli import baseline_main
from flip_hf.data import check_field_sides, field_sides, movielens
from flip_hf.training.trainer import CollatorEpochCallback

pytestmark = pytest.mark.usefixtures("one_torch_thread")

USER = ["user id", "gender", "occupation"]
ITEM = ["movie id", "title", "genres"]
QUIET = ["--use_cpu", "True", "--disable_tqdm", "True", "--report_to", "none"]


def save_tiny_t5(path, text_tokenizer):
    config = T5Config(
        vocab_size=len(text_tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        dropout_rate=0.0,  # training-mode passes are then deterministic
        decoder_start_token_id=text_tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(path)
    text_tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory, text_tokenizer):
    """A tiny random T5 saved as a local checkpoint, with the MiniLM WordPiece tokenizer."""
    return save_tiny_t5(tmp_path_factory.mktemp("tiny_t5"), text_tokenizer)


@pytest.fixture(scope="module")
def sentencepiece_t5(tmp_path_factory, table):
    """A tiny random T5 with a T5-style SentencePiece (Unigram, "▁" word marks, sentinels, no mask
    token) tokenizer whose vocabulary holds the words of the table, the field names and the templates."""
    text = " ".join([*P5_TEMPLATES, *table] + [str(v) for k, vs in table.items() if k != "label" for v in vs])
    words = sorted(set(re.findall(r"[A-Za-z']+|\d+", text)) | {"yes", "no", "unknown"})
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("\u2581" + w, -2.0) for w in words]
    vocab += [(c, -6.0) for c in sorted(set(text) - {" "})] + [("\u2581", -4.0)]
    return save_tiny_t5(tmp_path_factory.mktemp("sp_t5"), T5Tokenizer(vocab=vocab))


def build(kind, flip_tokenizer, tiny_plm, tiny_t5, **kw):
    torch.manual_seed(0)
    return build_baseline(kind, flip_tokenizer, tiny_plm if kind == "ctr_bert" else tiny_t5, USER, **kw)


def rows_of(table, start=0, n=8):
    return {k: v[start : start + n] for k, v in table.items()}


# ---------------------------------------------------------------------------------------- user/item split
def test_field_sides_of_the_builtin_data_sets():
    user, item = field_sides("movielens-1m")
    assert user == ["user id", "gender", "age", "occupation", "zip code"] and item == ["movie id", "title", "genres"]
    assert user + item == movielens.FIELD_NAMES and field_sides("ml-100k") == (user, item)
    bx_user, bx_item = field_sides("BookCrossing")
    assert bx_user == ["user id", "location", "age"]
    assert bx_item == ["ISBN", "book title", "book author", "year of publication", "publisher"]
    with pytest.raises(ValueError, match="--user_fields"):
        field_sides("csv")


@pytest.mark.parametrize(
    "user, item, needle",
    [
        (["user id", "nickname"], None, "Unknown user field 'nickname'"),
        (USER, ["movie id", "title", "genres", "gender"], "'gender' is on both"),
        (USER, ["movie id", "title"], "'genres' is on neither"),
        ([], None, "The user side has no fields"),
        (USER + ITEM, None, "The item side has no fields"),
        (["gender", "gender"], None, "'gender' is listed twice"),
    ],
)
def test_bad_user_item_splits_name_the_field(user, item, needle):
    with pytest.raises(ValueError, match=needle):
        check_field_sides(USER + ITEM, user, item)


def test_split_sides_follow_the_table_order():
    assert check_field_sides(USER + ITEM, ["occupation", "user id", "gender"]) == (USER, ITEM)


# ---------------------------------------------------------------------------------------- CTR-BERT
def test_ctr_bert_texts_are_the_two_sides_sentences(flip_tokenizer, table):
    processor = CTRBertProcessor(flip_tokenizer, USER)
    row = {k: v[0] for k, v in table.items()}  # occupation is missing in row 0
    enc = processor(row)
    decode = flip_tokenizer.text_tokenizer.decode
    assert decode(enc["user_input_ids"][0]) == (
        f"[CLS] user id is {row['user id']}. gender is {row['gender']}. occupation is unknown. [SEP]"
    )
    assert decode(enc["item_input_ids"][0]).startswith(f"[CLS] movie id is {row['movie id']}. title is movie number")
    assert enc["label"] == [row["label"]] and enc["user_attention_mask"][0] == [1] * len(enc["user_input_ids"][0])


def test_ctr_bert_forward_backward(flip_tokenizer, tiny_plm, tiny_t5, table):
    model, processor = build("ctr_bert", flip_tokenizer, tiny_plm, tiny_t5)
    batch = processor.data_collator()(processor.features(rows_of(table, n=6)))
    assert batch["labels"].dtype == torch.float32
    assert set(batch) == {"user_input_ids", "user_attention_mask", "item_input_ids", "item_attention_mask", "labels"}
    out = model(**batch)
    assert out.logits.shape == (6,) and out.loss.ndim == 0
    assert out.loss.item() == pytest.approx(F.binary_cross_entropy_with_logits(out.logits, batch["labels"]).item())
    out.loss.backward()
    for part in (model.user_tower, model.item_tower, model.fusion):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert model.user_tower is not model.item_tower


def test_ctr_bert_towers_keep_the_checkpoint_weights(flip_tokenizer, tiny_plm, tiny_t5):
    model, _ = build("ctr_bert", flip_tokenizer, tiny_plm, tiny_t5)
    loaded = BertModel.from_pretrained(tiny_plm).state_dict()
    for tower in (model.user_tower, model.item_tower):
        weights = tower.state_dict()
        assert all(torch.equal(weights[k], loaded[k]) for k in weights)


def test_ctr_bert_shared_towers(flip_tokenizer, tiny_plm, tiny_t5, table, tmp_path):
    two, _ = build("ctr_bert", flip_tokenizer, tiny_plm, tiny_t5)
    one, processor = build("ctr_bert", flip_tokenizer, tiny_plm, tiny_t5, share_towers=True)
    assert one.user_tower is one.item_tower and list(one.text_model) == ["shared"]
    tower_size = sum(p.numel() for p in two.item_tower.parameters())
    assert two.num_parameters() - one.num_parameters() == tower_size
    one.save_pretrained(tmp_path)
    keys = load_file(tmp_path / "model.safetensors")
    assert keys and all(k.startswith(("text_model.shared.", "fusion.")) for k in keys)
    again = CTRBertForCTR.from_pretrained(tmp_path)
    batch = processor.data_collator()(processor.features(rows_of(table)))
    one.eval(), again.eval()
    assert torch.equal(one(**batch).logits, again(**batch).logits)


# ---------------------------------------------------------------------------------------- P5
def test_p5_score_is_the_first_decoder_step_yes_no_softmax(flip_tokenizer, tiny_plm, tiny_t5, table):
    model, processor = build("p5", flip_tokenizer, tiny_plm, tiny_t5)
    model.eval()
    batch = processor.data_collator()(processor.features(rows_of(table, n=5)))
    out = model(**batch)
    # by hand: T5's own teacher-forced pass on the target word; its first decoder input is the start token
    t5 = T5ForConditionalGeneration.from_pretrained(tiny_t5).eval()
    yes, no = flip_tokenizer.text_tokenizer.convert_tokens_to_ids(["yes", "no"])
    target = torch.tensor([[yes]] * 5)
    with torch.no_grad():
        first = t5(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=target).logits[:, 0]
    two_way = torch.stack([first[:, yes], first[:, no]], dim=1)
    assert torch.allclose(out.logits, first[:, yes] - first[:, no], atol=1e-5)
    probs = model.predict_proba(rows_of(table, n=5), flip_tokenizer)
    assert probs.dtype == torch.float64 and torch.allclose(probs.float(), two_way.softmax(-1)[:, 0], atol=1e-5)
    answers = (1 - batch["labels"]).long()  # click -> "yes" (index 0)
    assert out.loss.item() == pytest.approx(F.cross_entropy(two_way, answers).item(), abs=1e-5)


def test_p5_forward_backward_reads_the_drawn_template_in_training_only(flip_tokenizer, tiny_plm, tiny_t5, table):
    model, processor = build("p5", flip_tokenizer, tiny_plm, tiny_t5)
    batch = processor.data_collator()(processor.features(rows_of(table, n=16)))
    assert {"input_ids", "attention_mask", "sampled_input_ids", "sampled_attention_mask", "labels"} == set(batch)
    model.train()
    out = model(**batch)
    assert out.logits.shape == (16,)
    out.loss.backward()
    assert all(p.grad is not None for p in model.text_model.encoder.parameters())
    model.eval()
    with torch.no_grad():
        fixed = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        drawn = model(input_ids=batch["sampled_input_ids"], attention_mask=batch["sampled_attention_mask"]).logits
        assert torch.equal(model(**batch).logits, fixed)
        model.train()
        assert torch.allclose(model(**batch).logits, drawn, atol=1e-5)
    assert not torch.allclose(fixed, drawn)


def test_p5_templates_are_drawn_per_row(flip_tokenizer, table):
    processor = P5Processor(flip_tokenizer, USER)
    collator = processor.data_collator(seed=3)
    features = processor.features(rows_of(table, n=64))
    ids = torch.tensor([f["feature_ids"] for f in features])
    chosen = collator.template_choice(ids)
    assert set(chosen.tolist()) == set(range(len(processor.templates)))  # every template is used
    # a row's template does not depend on its batch ...
    assert np.array_equal(collator.template_choice(ids.flip(0))[::-1], chosen)
    alone = collator([features[5]])
    together = collator(features[:8])
    length = int(alone["sampled_attention_mask"].sum())
    assert torch.equal(together["sampled_input_ids"][5, :length], alone["sampled_input_ids"][0])
    # ... but on the seed and the epoch, which the Trainer callback sets
    CollatorEpochCallback(collator).on_epoch_begin(None, TrainerState(epoch=2.0), None)
    assert collator.epoch == 2 and not np.array_equal(collator.template_choice(ids), chosen)
    # evaluation always reads template 0
    text = flip_tokenizer.text_tokenizer.decode(together["input_ids"][1], skip_special_tokens=True)
    assert text.startswith("user : user id is") and text.endswith("will the user click on the item?")
    assert "sampled_input_ids" not in processor.data_collator(training=False)(features[:4])


def test_p5_input_fits_max_length_and_keeps_both_sides(table, text_tokenizer):
    from flip_hf import FlipTabularTokenizer

    short = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer, max_length=32)
    processor = P5Processor(short, USER)
    batch = processor.data_collator()(processor.features(rows_of(table, n=8)))
    assert batch["input_ids"].shape[1] == 32 and batch["sampled_input_ids"].shape[1] <= 32
    text = text_tokenizer.decode(batch["input_ids"][0], skip_special_tokens=True)
    assert "user id is" in text and "movie id is" in text and text.endswith("click on the item?")


@pytest.mark.parametrize("tokenizer_kind", ["wordpiece", "sentencepiece"])
def test_p5_inputs_equal_tokenizing_the_template_text(tokenizer_kind, table, tiny_t5, sentencepiece_t5):
    """The collator assembles pre-tokenized pieces: the same ids as tokenizing the filled-in template."""
    path = tiny_t5 if tokenizer_kind == "wordpiece" else sentencepiece_t5
    text_tokenizer = load_text_tokenizer(path)
    if tokenizer_kind == "sentencepiece":  # T5's tokenizer has no mask token: its first sentinel serves
        assert text_tokenizer.mask_token == "<extra_id_0>" and len(text_tokenizer) == len(
            T5Tokenizer.from_pretrained(path)
        )
    tokenizer = FlipTabularTokenizer.from_dataset(table, text_tokenizer=text_tokenizer)
    model, processor = build_baseline("p5", tokenizer, path, USER)
    features = processor.features(rows_of(table, n=6))
    for r, f in enumerate(features):
        row = {k: v[r] for k, v in table.items()}
        for t in range(len(processor.templates)):
            expected = text_tokenizer(processor.template_text(row, t))["input_ids"]
            assert processor.template_input_ids(f["user_input_ids"], f["item_input_ids"], t) == expected
    yes, no = text_tokenizer.convert_ids_to_tokens([model.config.yes_token_id, model.config.no_token_id])
    assert (yes, no) == (("\u2581yes", "\u2581no") if tokenizer_kind == "sentencepiece" else ("yes", "no"))
    probs = model.predict_proba(rows_of(table, n=6), tokenizer)
    assert probs.shape == (6,) and bool(((probs > 0) & (probs < 1)).all())


def test_p5_answer_words_must_be_single_tokens(flip_tokenizer, tiny_t5):
    with pytest.raises(ValueError, match="single token"):
        P5ForCTR.from_text_pretrained(tiny_t5, flip_tokenizer, user_fields=USER, answer_words=["yesss", "no"])


def test_each_baseline_wants_its_kind_of_checkpoint(flip_tokenizer, tiny_plm, tiny_t5):
    with pytest.raises(ValueError, match="P5 needs an encoder-decoder"):
        build_baseline("p5", flip_tokenizer, tiny_plm, USER)
    with pytest.raises(ValueError, match="CTR-BERT needs an encoder"):
        build_baseline("ctr_bert", flip_tokenizer, tiny_t5, USER)
    with pytest.raises(ValueError, match="Unknown baseline"):
        build_baseline("bert4rec", flip_tokenizer, tiny_plm, USER)


# ---------------------------------------------------------------------------------------- both
@pytest.mark.parametrize("kind", ["ctr_bert", "p5"])
def test_save_load_round_trip(kind, flip_tokenizer, tiny_plm, tiny_t5, table, tmp_path):
    model, processor = build(kind, flip_tokenizer, tiny_plm, tiny_t5, num_text_layers=1)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith((".bin", ".pt", ".pkl"))]
    loaded, loaded_processor = load_baseline(tmp_path)
    auto = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is type(model) is type(auto)
    assert AutoConfig.from_pretrained(tmp_path).model_type == model.config.model_type
    assert loaded_processor.to_dict() == processor.to_dict()
    before, after = model.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    rows = rows_of(table, n=12)
    for other in (loaded, auto):
        probs = other.predict_proba(rows, loaded_processor.tokenizer)
        assert torch.equal(probs, model.predict_proba(rows, flip_tokenizer))
    if kind == "p5":  # tied embeddings stay tied
        text_model = loaded.text_model
        assert text_model.lm_head.weight.data_ptr() == text_model.shared.weight.data_ptr()
        assert loaded.config.text_config.num_layers == 1 and len(text_model.decoder.block) == 1
    else:
        assert loaded.config.text_config.num_hidden_layers == 1 and len(loaded.item_tower.encoder.layer) == 1


@pytest.mark.parametrize("kind", ["ctr_bert", "p5"])
def test_predict_proba_on_unseen_and_missing_values(kind, flip_tokenizer, tiny_plm, tiny_t5, table):
    model, _ = build(kind, flip_tokenizer, tiny_plm, tiny_t5)
    rows = pd.DataFrame(make_table(6, seed=11))
    rows.loc[0, "user id"] = "a user never seen"
    rows.loc[1, "title"] = "Some Unseen Title (2031)"
    rows.loc[2, ["gender", "genres"]] = None
    rows.loc[3, "occupation"] = float("nan")
    probs = model.predict_proba(rows, flip_tokenizer, batch_size=4)
    assert probs.shape == (6,) and bool(torch.isfinite(probs).all()) and bool(((probs > 0) & (probs < 1)).all())
    one = model.predict_proba({k: rows[k].iloc[2] for k in rows.columns}, flip_tokenizer)
    assert one.shape == (1,) and one.item() == pytest.approx(probs[2].item(), abs=1e-6)


def test_baseline_predict_proba_names_non_finite_weights_and_keeps_the_mode(flip_tokenizer, tiny_plm, tiny_t5):
    model, _ = build("ctr_bert", flip_tokenizer, tiny_plm, tiny_t5)
    rows = pd.DataFrame(make_table(3, seed=12))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    model.train()
    with pytest.raises(ValueError, match=r"non-finite probabilities for 3 row\(s\)"):
        model.predict_proba(rows, flip_tokenizer)
    assert model.training  # its mode back after the error
    with pytest.raises(ValueError, match="no rows"):
        model.predict_proba(rows.iloc[:0], flip_tokenizer)


@pytest.mark.parametrize("kind", ["ctr_bert", "p5"])
def test_encode_dataset_keeps_labels_and_matches_the_processor(kind, flip_tokenizer, tiny_plm, tiny_t5, table):
    _, processor = build(kind, flip_tokenizer, tiny_plm, tiny_t5)
    ds = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows_of(table, n=40))})
    encoded = processor.encode_dataset(ds)["train"]
    direct = processor(rows_of(table, n=40))
    assert set(encoded.column_names) == set(direct) and encoded["label"][:] == table["label"][:40]
    assert all(list(encoded[k][:]) == direct[k] for k in direct)


@pytest.mark.parametrize("kind", ["ctr_bert", "p5"])
def test_a_few_steps_fit_one_batch(kind, flip_tokenizer, tiny_plm, tiny_t5, table):
    model, processor = build(kind, flip_tokenizer, tiny_plm, tiny_t5)
    batch = processor.data_collator(training=False)(processor.features(rows_of(table, n=16)))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(25):
        loss = model(**batch).loss
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0], losses


# ---------------------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    return write_table_csv(tmp_path_factory.mktemp("table"), 1200, seed=3)


# CTR-BERT's towers must each learn a field of the table's gender x genre interaction: with tiny random
# encoders its test AUC after a few epochs ranged from 0.50 to 0.81 over seeds, so only P5's is checked.
RUNS = {
    "ctr_bert": ["--num_train_epochs", "2", "--per_device_train_batch_size", "32"],
    "p5": ["--num_train_epochs", "5", "--per_device_train_batch_size", "16"],
}


@pytest.mark.parametrize("kind", ["ctr_bert", "p5"])
def test_baseline_main_trains_tests_and_saves(kind, tmp_path, table_csv, tiny_plm, tiny_t5):
    out = tmp_path / kind
    args = [
        "--baseline", kind, "--plm", tiny_plm if kind == "ctr_bert" else tiny_t5,
        "--dataset", "csv", "--data_files", table_csv, "--time_column", "ts", "--user_fields", ",".join(USER),
        "--validation_size", "0.1", "--eval_strategy", "epoch", "--output_dir", str(out),
        "--learning_rate", "1e-3", "--text_learning_rate", "1e-3", "--max_seq_length", "96", *RUNS[kind],
    ] + QUIET  # fmt: skip
    res = baseline_main(args)
    saved = json.loads((out / "results.json").read_text())
    assert saved["auc"] == pytest.approx(res["auc"]) and saved["baseline"] == kind
    assert saved["user_fields"] == USER and saved["item_fields"] == ITEM and saved["text_learning_rate"] == 1e-3
    assert res["train_samples"] == 972 and res["validation_samples"] == 108 and res["test_samples"] == 120
    assert all(math.isfinite(res[k]) for k in ("auc", "logloss", "validation_auc", "validation_logloss"))
    if kind == "p5":  # the label is an interaction of gender and genre, both in the input text
        assert res["auc"] > 0.6, res
    assert {"model.safetensors", "config.json", "flip_feature_vocab.json", "flip_baseline_processor.json"} <= set(
        os.listdir(out)
    )
    model, processor = load_baseline(out)
    probs = model.predict_proba(pd.DataFrame(make_table(5, seed=9)), processor.tokenizer)
    assert probs.shape == (5,) and bool(((probs > 0) & (probs < 1)).all())
    with pytest.raises(FileExistsError, match="overwrite_output_dir"):  # a finished run is not replaced silently
        baseline_main(args)


def test_baseline_main_rejects_options_of_the_other_baseline(tmp_path, table_csv, tiny_plm):
    args = ["--baseline", "ctr_bert", "--plm", tiny_plm, "--dataset", "csv", "--data_files", table_csv]
    with pytest.raises(ValueError, match="--eval_template is not an option of CTR-BERT"):
        baseline_main(args + ["--eval_template", "1", "--output_dir", str(tmp_path)] + QUIET)
    with pytest.raises(ValueError, match="--user_fields"):  # a csv table has no built-in user/item split
        baseline_main(args + ["--output_dir", str(tmp_path)] + QUIET)
