"""Exact training under gradient accumulation and data parallelism: one plain-SGD step gives the same
parameters whether a batch of 2B rows is seen at once, as 2 accumulated batches of B, or by 2
processes of B (gloo on the CPU). Covers every `FlipForCTR` mode and `FlipForPretraining` (with the
contrastive loss under data parallelism; without it under accumulation, where in-batch negatives are
per micro-batch by design)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import _sgd_step
import pytest
from safetensors.torch import load_file

TESTS = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def ddp_steps(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", str(TESTS / "_sgd_step.py"), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(r["world_size"] == 2 for r in report.values())
    return out


def update_gap(after_a: dict, after_b: dict, case: str) -> float:
    """Largest difference of the two SGD updates, per tensor, relative to that tensor's largest update
    (floored at 1e-3 of the model's largest update, so that updates that are zero in exact arithmetic,
    such as an attention key bias, do not count their rounding). A loss scaled by 2 or by the world
    size gives 0.5 to 1; float rounding about 1e-6."""
    before = {k: v.detach() for k, v in _sgd_step.build(case)[1].state_dict().items()}
    assert after_a.keys() == after_b.keys() == before.keys()
    updates = {k: (after_a[k] - before[k], after_b[k] - before[k]) for k in before}
    largest = max(db.abs().max().item() for _, db in updates.values())
    assert largest > 0, "the step moved nothing"
    return max(((da - db).abs().max() / max(db.abs().max(), 1e-3 * largest)).item() for da, db in updates.values())


@pytest.mark.parametrize("case", ["ctr-joint", "ctr-id", "ctr-plm", "pretrain-no-icl"])
def test_accumulation_matches_one_big_batch(tmp_path, case, one_torch_thread):
    single = _sgd_step.one_step(case, "single", str(tmp_path))
    accumulated = _sgd_step.one_step(case, "accumulate", str(tmp_path))
    a = load_file(tmp_path / f"{case}-single.safetensors")
    b = load_file(tmp_path / f"{case}-accumulate.safetensors")
    assert update_gap(b, a, case) < 1e-3
    # the logged loss is the mean over the 2B rows, not the sum of the two micro-batch means
    assert accumulated["train_loss"] == pytest.approx(single["train_loss"], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(_sgd_step.CASES))
def test_two_processes_match_one_big_batch(tmp_path, ddp_steps, case, one_torch_thread):
    _sgd_step.one_step(case, "single", str(tmp_path))
    single = load_file(tmp_path / f"{case}-single.safetensors")
    ddp = load_file(ddp_steps / f"{case}-ddp.safetensors")
    assert update_gap(ddp, single, case) < 1e-3


def test_the_step_is_not_trivial(tmp_path, one_torch_thread):
    """Guard for the tests above: the step moves the parameters, so equal parameters mean equal gradients."""
    kind, model, _, _ = _sgd_step.build("pretrain")
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _sgd_step.one_step("pretrain", "single", str(tmp_path))
    after = load_file(tmp_path / "pretrain-single.safetensors")
    moved = [k for k in after if not (before[k] == after[k]).all()]
    assert any(k.startswith("icl_head.") for k in moved) and any(k.startswith("mtm_head.") for k in moved)
    assert any(k.startswith("id_model.") for k in moved) and any(k.startswith("text_model.") for k in moved)
