"""Two "nodes" on this machine, as a user runs them on two: two `accelerate launch` processes with
``--num_machines 2 --machine_rank 0/1 --main_process_ip 127.0.0.1`` (gloo on the CPU). The
contrastive loss gathers its negatives across both nodes, a pretraining writes its checkpoints once,
the global batch is split over the nodes, and a run resumed from a checkpoint ends on the weights of
the uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from synthetic import write_table_csv

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QUIET = ["--use_cpu", "True", "--disable_tqdm", "True", "--report_to", "none"]


def launch_two_nodes(script: Path, args: list[str], port: int, logs: Path) -> list[str]:
    """Run ``script`` on two one-process "nodes" at once; returns each node's output."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for rank in (0, 1):
        cmd = [
            str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_machines", "2", "--num_processes", "2",
            "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
            "--mixed_precision", "no", "--dynamo_backend", "no", str(script), *args,
        ]  # fmt: skip
        log = open(logs / f"node{rank}.log", "w")
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, text=True), log))
    outputs = []
    for proc, log in procs:
        try:
            proc.wait(timeout=600)
        finally:
            log.close()
            if proc.poll() is None:
                proc.kill()
        outputs.append(Path(log.name).read_text())
    for rank, ((proc, _), out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"node {rank}:\n{out[-4000:]}"
    return outputs


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("table")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLIP_HF_CACHE", str(path / "cache"))
        yield write_table_csv(path, 1200, seed=3)


def pretrain_args(table_csv: str, plm: str, out: Path, *extra: str) -> list[str]:
    return [
        "--dataset", "csv", "--data_files", table_csv, "--time_column", "ts", "--max_seq_length", "64",
        "--plm", plm, "--output_dir", str(out), "--learning_rate", "1e-3", "--global_train_batch_size", "64",
        "--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--logging_steps", "1", "--seed", "7",
        *QUIET, *extra,
    ]  # fmt: skip


def test_contrastive_negatives_are_gathered_across_two_nodes(tmp_path, free_port):
    """The ICL loss and its gradients over two nodes equal one process's over the whole batch."""
    node0, _ = launch_two_nodes(ROOT / "tests" / "_dist_icl_check.py", [], free_port(), tmp_path)
    ranks = json.loads(node0.strip().splitlines()[-1])  # the main process reports both ranks
    assert [(r["rank"], r["ok"]) for r in ranks] == [(0, True), (1, True)], ranks


@pytest.fixture(scope="module")
def two_node_run(tmp_path_factory, tiny_plm, table_csv, free_port):
    out = tmp_path_factory.mktemp("two_nodes") / "pretrain"
    outputs = launch_two_nodes(ROOT / "examples" / "run_pretrain.py", pretrain_args(table_csv, tiny_plm, out),
                               free_port(), out.parent / "logs")  # fmt: skip
    return out, outputs


def test_two_node_pretraining_splits_the_global_batch_and_saves_once(two_node_run):
    out, outputs = two_node_run
    summary = json.loads((out / "pretrain_results.json").read_text())
    assert summary["world_size"] == 2 and summary["global_batch_size"] == 64 and summary["global_step"] == 4
    for node in outputs:  # each node's log states the layout: 32 rows per process, negatives over both
        assert "global batch 64 = 32 per process x 2 process(es) x 1 accumulation step(s)" in node
        assert "contrastive negatives span 64 rows" in node
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["train_batch_size"] == 32
    # written by the main process only: one model file; one RNG state per process to resume from
    files = sorted(p.name for p in (out / "checkpoint-2").iterdir())
    assert files.count("model.safetensors") == 1 and {"rng_state_0.pth", "rng_state_1.pth"} <= set(files)
    assert sum(node.count("pretraining done") for node in outputs) == 2


def test_two_node_pretraining_resumes_from_its_checkpoint(two_node_run, tmp_path, tiny_plm, table_csv, free_port):
    """An interrupted run (its last checkpoint and final files lost) resumed with
    ``--resume_from_checkpoint last`` on both nodes ends on the uninterrupted run's weights."""
    reference, _ = two_node_run
    out = tmp_path / "pretrain"
    shutil.copytree(reference / "checkpoint-2", out / "checkpoint-2")
    args = pretrain_args(table_csv, tiny_plm, out, "--resume_from_checkpoint", "last")
    launch_two_nodes(ROOT / "examples" / "run_pretrain.py", args, free_port(), tmp_path / "logs")
    assert json.loads((out / "pretrain_results.json").read_text())["global_step"] == 4
    resumed, full = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert resumed.keys() == full.keys()
    gap = max((resumed[k].float() - full[k].float()).abs().max().item() for k in full)
    assert gap <= 1e-6, gap


def test_global_batch_must_split_evenly():
    from flip_hf.training.arguments import FlipTrainingArguments, apply_global_batch

    args = FlipTrainingArguments(output_dir="unused", global_train_batch_size=96, gradient_accumulation_steps=4,
                                 use_cpu=True, report_to="none")  # fmt: skip
    apply_global_batch(args)
    assert args.per_device_train_batch_size == 24
    args.global_train_batch_size = 90
    with pytest.raises(ValueError, match="not a positive multiple"):
        apply_global_batch(args)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="sharding is refused only without a GPU")
def test_sharding_without_a_gpu_is_refused_rather_than_replaced_by_ddp(monkeypatch):
    from flip_hf.training.arguments import FlipTrainingArguments, check_sharding

    plain = FlipTrainingArguments(output_dir="unused", use_cpu=True, report_to="none")
    check_sharding(plain)  # data parallelism alone is fine
    sharded = FlipTrainingArguments(output_dir="unused", use_cpu=True, report_to="none", fsdp="full_shard")
    with pytest.raises(ValueError, match="--fsdp shards the model over GPUs"):
        check_sharding(sharded)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch --use_fsdp` sets
    with pytest.raises(ValueError, match="accelerate --use_fsdp"):
        check_sharding(plain)
