"""End-to-end runs of the command-line entry points on tiny data with a tiny random text encoder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from synthetic import make_table

from flip_hf.cli import ctr_main, finetune_main, pretrain_main
from flip_hf.training.hub import INSTALL_COMMAND

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUIET = ["--use_cpu", "True", "--disable_tqdm", "True", "--report_to", "none"]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "clicks.csv"
    df = pd.DataFrame(make_table(1200, seed=3))
    df["ts"] = range(len(df))
    df.to_csv(path, index=False)
    return str(path)


def data_args(table_csv):
    return ["--dataset", "csv", "--data_files", table_csv, "--time_column", "ts", "--max_seq_length", "64"]


def test_run_ctr_learns_the_table(tmp_path, table_csv):
    out = tmp_path / "ctr"
    args = ["--id_model", "deepfm", "--output_dir", str(out), "--num_train_epochs", "4"]
    res = ctr_main(data_args(table_csv) + args + ["--per_device_train_batch_size", "32"] + QUIET)
    saved = json.loads((out / "results.json").read_text())
    assert saved["auc"] == pytest.approx(res["auc"]) and saved["mode"] == "id"
    # the label is an interaction of gender and genre: a trained model ranks far above chance
    assert res["auc"] > 0.7, res
    assert res["test_samples"] == 120 and res["validation_samples"] == 0
    assert (out / "model.safetensors").exists() and (out / "flip_feature_vocab.json").exists()
    assert not (out / "training_args.bin").exists()


def test_run_ctr_takes_id_model_hyperparameters_from_config_flags(tmp_path, table_csv):
    out = tmp_path / "ctr"
    flags = ["--id_model", "dcnv2", "--id_embedding_dim", "8", "--id_mlp_hidden_sizes", "16", "16"]
    ctr_main(data_args(table_csv) + flags + ["--output_dir", str(out), "--max_steps", "1"] + QUIET)
    config = json.loads((out / "config.json").read_text())
    assert config["id_embedding_dim"] == 8 and config["id_mlp_hidden_sizes"] == [16, 16]
    weights = load_file(out / "model.safetensors")
    assert weights["id_model.embedding.weight"].shape[1] == 8


def test_evaluation_during_training_uses_validation_only(tmp_path, table_csv):
    out = tmp_path / "ctr"
    flags = ["--num_train_epochs", "4", "--per_device_train_batch_size", "32", "--eval_strategy", "epoch"]
    flags += ["--output_dir", str(out)]
    with pytest.raises(ValueError, match="validation split"):
        ctr_main(data_args(table_csv) + flags + QUIET)
    res = ctr_main(data_args(table_csv) + flags + ["--validation_size", "0.1"] + QUIET)
    assert res["train_samples"] == 972 and res["validation_samples"] == 108 and res["test_samples"] == 120
    assert res["validation_auc"] > 0.6 and res["auc"] > 0.6


def _pretrain_args(tiny_plm, out, *extra):
    return [
        "--plm", tiny_plm, "--output_dir", str(out), "--per_device_train_batch_size", "64",
        "--learning_rate", "1e-3", *extra,
    ] + QUIET  # fmt: skip


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory, tiny_plm, table_csv):
    out = tmp_path_factory.mktemp("pretrain") / "run"
    extra = ["--num_train_epochs", "2", "--logging_steps", "2", "--save_strategy", "epoch"]
    summary = pretrain_main(data_args(table_csv) + _pretrain_args(tiny_plm, out, *extra))
    assert summary["world_size"] == 1
    return out


def test_run_pretrain_saves_model_tokenizer_and_losses(pretrained_dir):
    names = set(os.listdir(pretrained_dir))
    assert {"model.safetensors", "config.json", "flip_feature_vocab.json", "tokenizer.json"} <= names
    checkpoints = sorted(p for p in names if p.startswith("checkpoint-"))
    assert checkpoints, "save_strategy=epoch must leave checkpoint folders"
    assert {"model.safetensors", "flip_feature_vocab.json"} <= set(os.listdir(pretrained_dir / checkpoints[-1]))
    summary = json.loads((pretrained_dir / "pretrain_results.json").read_text())
    curve = summary["loss_curve"]
    assert curve and all(k in curve[0] for k in ("mlm_loss", "mtm_loss", "icl_loss"))
    # learning happens: the logged total falls from the first to the last log
    assert curve[-1]["loss"] < curve[0]["loss"]


def test_run_pretrain_resumes_from_checkpoint(tmp_path, pretrained_dir, tiny_plm, table_csv):
    first = sorted((p for p in os.listdir(pretrained_dir) if p.startswith("checkpoint-")), key=lambda p: int(p[11:]))
    out = tmp_path / "resumed"
    shutil.copytree(pretrained_dir / first[0], out / first[0])
    step_at_checkpoint = json.loads((out / first[0] / "trainer_state.json").read_text())["global_step"]
    before = load_file(out / first[0] / "model.safetensors")
    extra = ["--num_train_epochs", "2", "--save_strategy", "no", "--resume_from_checkpoint", str(out / first[0])]
    pretrain_main(data_args(table_csv) + _pretrain_args(tiny_plm, out, *extra))
    after = load_file(out / "model.safetensors")
    full = load_file(pretrained_dir / "model.safetensors")
    resumed = json.loads((out / "pretrain_results.json").read_text())
    uninterrupted = json.loads((pretrained_dir / "pretrain_results.json").read_text())
    # it continued from the checkpoint: the history up to it is the first run's, then it went on ...
    before_log = [h for h in uninterrupted["loss_curve"] if h["step"] <= step_at_checkpoint]
    assert step_at_checkpoint > 0 and resumed["global_step"] == uninterrupted["global_step"] > step_at_checkpoint
    assert [h for h in resumed["loss_curve"] if h["step"] <= step_at_checkpoint] == before_log
    key = "id_model.embedding.weight"
    assert not torch.equal(after[key], before[key])
    # ... and it ended where the uninterrupted run ended (float tolerance)
    gap = max((after[k] - full[k]).abs().max().item() for k in full)
    assert gap < 1e-4, gap


@pytest.mark.parametrize("mode", ["joint", "id", "plm"])
def test_run_finetune_each_mode(tmp_path, pretrained_dir, table_csv, mode):
    from huggingface_hub import ModelCard

    out = tmp_path / mode
    flags = ["--pretrained_dir", str(pretrained_dir), "--mode", mode, "--output_dir", str(out)]
    res = finetune_main(data_args(table_csv) + flags + ["--per_device_train_batch_size", "64"] + QUIET)
    assert json.loads((out / "results.json").read_text())["mode"] == mode
    assert json.loads((out / "config.json").read_text())["mode"] == mode
    card = ModelCard.load(out / "README.md")
    metrics = {m.metric_type: m.metric_value for m in card.data.eval_results}
    assert metrics["roc_auc"] == pytest.approx(res["auc"]) and metrics["log_loss"] == pytest.approx(res["logloss"])
    assert card.data.library_name == "flip_hf"
    assert INSTALL_COMMAND in card.text  # flip_hf is not on PyPI: the card says how to get it
    weights = load_file(out / "model.safetensors")
    assert any(k.startswith("text_model.") for k in weights) == (mode != "id")
    assert any(k.startswith("id_model.") for k in weights) == (mode != "plm")
    if mode == "joint":
        assert 0.0 < res["alpha"] < 1.0 and res["alpha"] != pytest.approx(0.5, abs=1e-6)


def test_contrastive_gradients_span_both_processes():
    """torchrun with 2 CPU processes (gloo): the gathered ICL loss AND its gradients equal the
    single-process global batch's, after DDP's averaging (unequal local batches included)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(ROOT / "tests" / "_dist_icl_check.py")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ranks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["ok"] for r in ranks] == [True, True], ranks


@pytest.mark.slow
def test_accelerate_launch_two_processes(tmp_path, tiny_plm, table_csv, free_port):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = [
        str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
        str(ROOT / "examples" / "run_pretrain.py"),
    ]  # fmt: skip
    args = data_args(table_csv) + _pretrain_args(tiny_plm, out, "--num_train_epochs", "1", "--save_strategy", "no")
    proc = subprocess.run(launcher + args, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "pretrain_results.json").read_text())
    assert summary["world_size"] == 2
    assert (out / "model.safetensors").exists()


def test_push_to_hub_sends_the_checkpoint_folder(tmp_path, pretrained_dir, table_csv, monkeypatch):
    """Everything up to the upload: the folder a push sends holds model, tokenizer and card, no pickle."""
    import huggingface_hub
    from transformers import AutoModel

    from flip_hf import FlipForCTR, FlipTabularTokenizer
    from flip_hf.training.hub import push_checkpoint_to_hub

    out = tmp_path / "flip"
    flags = ["--pretrained_dir", str(pretrained_dir), "--mode", "id", "--output_dir", str(out)]
    finetune_main(data_args(table_csv) + flags + QUIET)
    sent = {}

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=True, exist_ok=True):
            sent["repo"] = repo_id

        def upload_folder(self, folder_path, repo_id, allow_patterns, **kwargs):
            sent["files"] = allow_patterns
            return "ok"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    push_checkpoint_to_hub(str(out), "someone/flip-id-test")
    assert sent["repo"] == "someone/flip-id-test"
    expected = {"README.md", "config.json", "model.safetensors", "flip_feature_vocab.json", "tokenizer.json"}
    assert expected <= set(sent["files"])
    assert not [f for f in sent["files"] if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    # a Hub copy loads from that file set alone
    copy = tmp_path / "hub_copy"
    copy.mkdir()
    for name in sent["files"]:
        shutil.copy(out / name, copy / name)
    model = FlipForCTR.from_pretrained(copy)
    tok = FlipTabularTokenizer.from_pretrained(copy)
    auto = AutoModel.from_pretrained(copy, trust_remote_code=True)
    assert type(auto) is FlipForCTR and "modeling_flip.py" in sent["files"]
    assert model.config.mode == "id" and model.text_model is None
    probs = model.predict_proba(pd.DataFrame(make_table(5, seed=9)), tok)
    assert probs.shape == (5,) and bool(((probs > 0) & (probs < 1)).all())


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, tiny_plm):
    from flip_hf.demo import main as demo_main

    out = tmp_path / "demo"
    args = ["--plm", tiny_plm, "--train_samples", "200", "--max_eval_samples", "200", "--output_dir", str(out)]
    rows = demo_main(args)
    assert [r["model"] for r in rows] == ["DCNv2 (no pretraining)", "FLIP_ID", "FLIP_PLM", "FLIP"]
    table = (out / "results.md").read_text()
    assert "QUICK profile" in table and "| FLIP |" in table
    saved = json.loads((out / "results.json").read_text())
    assert [r["auc"] for r in saved["rows"]] == [r["auc"] for r in rows] and all(r["test_samples"] == 200 for r in rows)
    assert (out / "flip" / "README.md").exists() and (out / "pretrain" / "model.safetensors").exists()
