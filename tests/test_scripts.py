"""End-to-end runs of the example scripts on tiny data with a tiny random text encoder."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_table

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_plm(tmp_path_factory, text_tokenizer):
    """A tiny random BERT saved as a local HF checkpoint, with the MiniLM tokenizer."""
    from transformers import BertConfig, BertModel

    path = tmp_path_factory.mktemp("tiny_plm")
    config = BertConfig(
        vocab_size=len(text_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(path)
    text_tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "clicks.csv"
    df = pd.DataFrame(make_table(600, seed=3))
    df["ts"] = range(len(df))
    df.to_csv(path, index=False)
    return str(path)


def data_args(table_csv):
    return ["--dataset", "csv", "--data_files", table_csv, "--time_column", "ts", "--max_seq_length", "64"]


def test_run_ctr_writes_results(tmp_path, table_csv):
    out = tmp_path / "ctr"
    res = load_script("run_ctr").main(
        data_args(table_csv)
        + [
            "--id_model",
            "deepfm",
            "--output_dir",
            str(out),
            "--num_train_epochs",
            "3",
            "--per_device_train_batch_size",
            "64",
            "--use_cpu",
            "True",
            "--disable_tqdm",
            "True",
        ]
    )
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) >= {"auc", "logloss"} and saved["auc"] == pytest.approx(res["auc"])
    assert 0.0 < saved["logloss"] < 5 and 0.0 <= saved["auc"] <= 1.0
    assert (out / "model.safetensors").exists() and (out / "flip_feature_vocab.json").exists()
    assert not (out / "training_args.bin").exists()


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory, tiny_plm, table_csv):
    out = tmp_path_factory.mktemp("pretrain") / "run"
    summary = load_script("run_pretrain").main(
        data_args(table_csv)
        + [
            "--plm",
            tiny_plm,
            "--output_dir",
            str(out),
            "--num_train_epochs",
            "2",
            "--per_device_train_batch_size",
            "64",
            "--learning_rate",
            "1e-3",
            "--logging_steps",
            "2",
            "--save_strategy",
            "epoch",
            "--use_cpu",
            "True",
            "--disable_tqdm",
            "True",
        ]
    )
    assert summary["world_size"] == 1
    return out


def test_run_pretrain_saves_model_tokenizer_and_losses(pretrained_dir):
    names = set(os.listdir(pretrained_dir))
    assert {"model.safetensors", "config.json", "flip_feature_vocab.json", "tokenizer.json"} <= names
    checkpoints = sorted(p for p in names if p.startswith("checkpoint-"))
    assert checkpoints, "save_strategy=epoch must leave checkpoint folders"
    assert {"model.safetensors", "flip_feature_vocab.json"} <= set(os.listdir(pretrained_dir / checkpoints[-1]))
    state = json.loads((pretrained_dir / checkpoints[-1] / "trainer_state.json").read_text())
    logged = [h for h in state["log_history"] if "mlm_loss" in h]
    assert logged and all(k in logged[0] for k in ("mtm_loss", "icl_loss"))
    summary = json.loads((pretrained_dir / "pretrain_results.json").read_text())
    assert set(summary["final_losses"]) >= {"mlm_loss", "mtm_loss", "icl_loss"}


def test_run_pretrain_resumes_from_checkpoint(tmp_path, pretrained_dir, tiny_plm, table_csv):
    first = sorted(p for p in os.listdir(pretrained_dir) if p.startswith("checkpoint-"))[0]
    out = tmp_path / "resumed"
    shutil.copytree(pretrained_dir / first, out / first)
    summary = load_script("run_pretrain").main(
        data_args(table_csv)
        + [
            "--plm",
            tiny_plm,
            "--output_dir",
            str(out),
            "--num_train_epochs",
            "2",
            "--per_device_train_batch_size",
            "64",
            "--learning_rate",
            "1e-3",
            "--save_strategy",
            "no",
            "--use_cpu",
            "True",
            "--disable_tqdm",
            "True",
            "--resume_from_checkpoint",
            str(out / first),
        ]
    )
    assert summary["epochs"] == 2 and (out / "model.safetensors").exists()


@pytest.mark.parametrize("mode", ["joint", "id", "plm"])
def test_run_finetune_each_mode(tmp_path, pretrained_dir, table_csv, mode):
    from huggingface_hub import ModelCard

    out = tmp_path / mode
    res = load_script("run_finetune").main(
        data_args(table_csv)
        + [
            "--pretrained_dir",
            str(pretrained_dir),
            "--mode",
            mode,
            "--output_dir",
            str(out),
            "--per_device_train_batch_size",
            "64",
            "--use_cpu",
            "True",
            "--disable_tqdm",
            "True",
        ]
    )
    assert json.loads((out / "results.json").read_text())["mode"] == mode
    assert 0.0 <= res["auc"] <= 1.0
    card = ModelCard.load(out / "README.md")
    metrics = {m.metric_type: m.metric_value for m in card.data.eval_results}
    assert metrics["roc_auc"] == pytest.approx(res["auc"]) and metrics["log_loss"] == pytest.approx(res["logloss"])
    assert card.data.library_name == "flip_hf"
    if mode == "joint":
        assert 0.0 <= res["alpha"] <= 1.0


def test_contrastive_negatives_span_both_processes():
    """torchrun with 2 CPU processes (gloo): gathered ICL == the loss over the global batch."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [
            str(BIN / "torchrun"),
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            str(ROOT / "tests" / "_dist_icl_check.py"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ranks = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["ok"] for r in ranks] == [True, True]


@pytest.mark.slow
def test_accelerate_launch_two_processes(tmp_path, tiny_plm, table_csv):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = (
        [
            str(BIN / "accelerate"),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            "29541",
            str(ROOT / "examples" / "run_pretrain.py"),
        ]
        + data_args(table_csv)
        + [
            "--plm",
            tiny_plm,
            "--output_dir",
            str(out),
            "--num_train_epochs",
            "1",
            "--per_device_train_batch_size",
            "32",
            "--save_strategy",
            "no",
            "--disable_tqdm",
            "True",
        ]
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "pretrain_results.json").read_text())
    assert summary["world_size"] == 2
    assert (out / "model.safetensors").exists()


def test_push_to_hub_sends_the_checkpoint_folder(tmp_path, pretrained_dir, table_csv, monkeypatch):
    """Everything up to the upload: the folder a push sends holds model, tokenizer and card, no pickle."""
    import huggingface_hub

    from flip_hf.hub import push_checkpoint_to_hub

    out = tmp_path / "flip"
    load_script("run_finetune").main(
        data_args(table_csv)
        + [
            "--pretrained_dir",
            str(pretrained_dir),
            "--mode",
            "id",
            "--output_dir",
            str(out),
            "--use_cpu",
            "True",
            "--disable_tqdm",
            "True",
        ]
    )
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
    assert {"README.md", "config.json", "model.safetensors", "flip_feature_vocab.json", "tokenizer.json"} <= set(
        sent["files"]
    )
    assert not [f for f in sent["files"] if f.endswith((".bin", ".pt", ".pth", ".pkl"))]
    # a Hub copy loads from that file set alone
    from flip_hf import FlipForCTR, FlipTabularTokenizer

    copy = tmp_path / "hub_copy"
    copy.mkdir()
    for name in sent["files"]:
        shutil.copy(out / name, copy / name)
    model = FlipForCTR.from_pretrained(copy)
    tok = FlipTabularTokenizer.from_pretrained(copy)
    from transformers import AutoModel

    auto = AutoModel.from_pretrained(copy, trust_remote_code=True)
    assert type(auto) is FlipForCTR and "modeling_flip.py" in sent["files"]
    assert model.config.mode == "id" and model.text_model is None
    probs = model.predict_proba(pd.DataFrame(make_table(5, seed=9)), tok)
    assert probs.shape == (5,) and bool(((probs > 0) & (probs < 1)).all())


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, tiny_plm):
    out = tmp_path / "demo"
    rows = load_script("run_demo").main(
        ["--plm", tiny_plm, "--train_samples", "200", "--max_eval_samples", "200", "--output_dir", str(out)]
    )
    assert [r["model"] for r in rows] == ["DCNv2 (no pretraining)", "FLIP_ID", "FLIP_PLM", "FLIP"]
    table = (out / "results.md").read_text()
    assert "QUICK profile" in table and "| FLIP |" in table
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == 4 and all(0 <= r["auc"] <= 1 for r in saved["rows"])
    assert (out / "flip" / "README.md").exists() and (out / "pretrain" / "model.safetensors").exists()
