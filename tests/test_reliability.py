"""Nothing lost: runs killed with SIGKILL resume to the uninterrupted run's weights, half-written
checkpoints are skipped with a warning, broken or foreign files are named, finished runs are not
overwritten, resuming never unpickles code, and a Hub push sends the model files only."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from synthetic import make_table, write_table_csv

from flip_hf import FlipForCTR, FlipTabularTokenizer
from flip_hf.cli import finetune_main, pretrain_main
from flip_hf.training.checkpoints import checkpoint_folders, checkpoint_problems, resolve_checkpoint
from flip_hf.training.hub import push_checkpoint_to_hub

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--use_cpu", "True", "--disable_tqdm", "True", "--report_to", "none"]
TRAIN = ["--per_device_train_batch_size", "64", "--num_train_epochs", "2", "--logging_steps", "1", "--seed", "7"]
SAVES = ["--save_strategy", "steps", "--save_steps", "8", "--save_total_limit", "10"]
STEPS = 34  # 1,080 training rows in batches of 64, two epochs


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """The data cache of this module's runs (and of the subprocesses), away from the user's."""
    path = tmp_path_factory.mktemp("flip_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLIP_HF_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory, cache_dir):
    return write_table_csv(tmp_path_factory.mktemp("table"), 1200, seed=3)


def data_args(table_csv):
    return ["--dataset", "csv", "--data_files", table_csv, "--time_column", "ts", "--max_seq_length", "64"]


def pretrain_args(table_csv, tiny_plm, out):
    return data_args(table_csv) + ["--plm", tiny_plm, "--output_dir", str(out), "--learning_rate", "1e-3"] + TRAIN


def finetune_args(table_csv, pretrained, out, mode="joint"):
    flags = ["--pretrained_dir", str(pretrained), "--mode", mode, "--output_dir", str(out)]
    return data_args(table_csv) + flags + TRAIN


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_plm, table_csv, one_torch_thread):
    """An uninterrupted pretraining run with a checkpoint every 8 steps (one torch thread: bitwise
    reproducible, as the subprocesses below are)."""
    out = tmp_path_factory.mktemp("reference") / "pretrain"
    pretrain_main(pretrain_args(table_csv, tiny_plm, out) + SAVES + QUIET)
    return out


def max_weight_gap(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)


def kill_after_first_checkpoint(script: str, argv: list[str], out: Path, rng: random.Random) -> str:
    """Run ``examples/<script>`` and SIGKILL it a random number of steps (0-10) after its first
    checkpoint is complete; returns the tail of its output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="0")
    cmd = [sys.executable, str(ROOT / "examples" / script), *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    tail: deque[str] = deque(maxlen=40)
    steps, target = 0, None
    try:
        for line in proc.stdout:
            tail.append(line)
            steps += line.startswith("{'loss'")
            first = checkpoint_folders(out)[-1:]
            if target is None and first and not checkpoint_problems(first[0]):
                target = steps + rng.randint(0, 10)
            if target is not None and steps >= target:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    log = "".join(tail)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed (rc {proc.returncode}):\n{log}"
    return f"killed after step {steps}; checkpoints {[Path(c).name for c in checkpoint_folders(out)]}"


# ------------------------------------------------------------------------------ kill and resume
@pytest.mark.slow
def test_killed_pretraining_resumes_to_the_uninterrupted_weights(tmp_path, reference, tiny_plm, table_csv):
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    out = tmp_path / "killed"
    argv = pretrain_args(table_csv, tiny_plm, out) + SAVES + QUIET
    where = kill_after_first_checkpoint("run_pretrain.py", argv, out, rng)
    assert not (out / "pretrain_results.json").exists()
    summary = pretrain_main(argv + ["--resume_from_checkpoint", "last"])
    assert summary["global_step"] == STEPS
    gap = max_weight_gap(out, reference)
    assert gap < 1e-6, f"{where} (seed {seed}): max weight difference {gap}"
    # ... and FLIP_ID finetuned from either pretraining is the same model
    results = [
        finetune_main(finetune_args(table_csv, pre, tmp_path / f"ft-{i}", mode="id") + QUIET)
        for i, pre in enumerate((reference, out))
    ]
    for key in ("auc", "logloss"):
        assert results[0][key] == pytest.approx(results[1][key], abs=1e-9), (where, key)


@pytest.mark.slow
def test_killed_finetuning_resumes_to_the_uninterrupted_run(tmp_path, reference, table_csv):
    uninterrupted = finetune_main(finetune_args(table_csv, reference, tmp_path / "full") + SAVES + QUIET)
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    out = tmp_path / "killed"
    argv = finetune_args(table_csv, reference, out) + SAVES + QUIET
    where = kill_after_first_checkpoint("run_finetune.py", argv, out, rng)
    assert not (out / "results.json").exists()
    resumed = finetune_main(argv + ["--resume_from_checkpoint", "last"])
    gap = max_weight_gap(out, tmp_path / "full")
    assert gap < 1e-6, f"{where} (seed {seed}): max weight difference {gap}"
    for key in ("auc", "logloss", "alpha"):
        assert resumed[key] == pytest.approx(uninterrupted[key], abs=1e-9), (where, key)


# ------------------------------------------------------------------------------ half-written checkpoints
def damage(folder: Path, how: str) -> str:
    """Leave ``folder`` as a save killed half-way would; returns what the warning must say."""
    name, kind = how.split(":")
    path = folder / name
    if kind == "missing":
        path.unlink()
        return f"{name} is missing"
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)
    return f"{name} is truncated" if name != "trainer_state.json" else f"{name} is broken"


def copy_checkpoints(reference: Path, out: Path, steps=(24, 32)) -> list[Path]:
    out.mkdir(parents=True)
    return [Path(shutil.copytree(reference / f"checkpoint-{s}", out / f"checkpoint-{s}")) for s in steps]


DAMAGES = [
    "model.safetensors:missing",
    "model.safetensors:truncated",
    "trainer_state.json:missing",
    "trainer_state.json:truncated",
    "optimizer.pt:missing",
    "optimizer.pt:truncated",
    "scheduler.pt:missing",
    "rng_state.pth:missing",
    "rng_state.pth:truncated",
]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_half_written_checkpoint_is_skipped_with_a_warning(tmp_path, reference, how, caplog):
    earlier, latest = copy_checkpoints(reference, tmp_path / "run")
    said = damage(latest, how)
    with caplog.at_level(logging.WARNING, logger="flip_hf"):
        for resume in ("last", "True", True, str(latest)):
            assert resolve_checkpoint(resume, tmp_path / "run") == str(earlier)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all(str(latest) in w and said in w for w in warnings), warnings


def test_no_complete_checkpoint_is_a_clear_error(tmp_path, reference):
    earlier, latest = copy_checkpoints(reference, tmp_path / "run")
    damage(earlier, "optimizer.pt:missing")
    damage(latest, "model.safetensors:truncated")
    with pytest.raises(ValueError, match="No complete checkpoint") as err:
        resolve_checkpoint("last", tmp_path / "run")
    assert "checkpoint-24 (optimizer.pt is missing)" in str(err.value)
    assert "checkpoint-32 (model.safetensors is truncated" in str(err.value)
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        resolve_checkpoint("last", tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        resolve_checkpoint(str(tmp_path / "run" / "checkpoint-99"), tmp_path / "run")


@pytest.mark.parametrize("how", ["model.safetensors:truncated", "optimizer.pt:missing"])
def test_resuming_past_a_half_written_checkpoint_is_exact(tmp_path, reference, tiny_plm, table_csv, how, caplog):
    """A save killed half-way through the weights (a crash before) or the optimizer state (a silent
    restart of Adam before): the run resumes from the previous checkpoint and ends on the
    uninterrupted run's weights."""
    out = tmp_path / "run"
    _, latest = copy_checkpoints(reference, out)
    said = damage(latest, how)
    with caplog.at_level(logging.WARNING, logger="flip_hf"):
        pretrain_main(pretrain_args(table_csv, tiny_plm, out) + SAVES + QUIET + ["--resume_from_checkpoint", "last"])
    assert any(said in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert max_weight_gap(out, reference) < 1e-6


def test_persistent_workers_would_freeze_the_corruptions(tmp_path, tiny_plm, table_csv):
    """Persistent data-loader workers keep the collator they started with: its epoch (and so every
    mask and noise draw) would never change, nor match a resumed run's."""
    argv = pretrain_args(table_csv, tiny_plm, tmp_path / "run") + QUIET
    with pytest.raises(ValueError, match="dataloader_persistent_workers"):
        pretrain_main(argv + ["--dataloader_num_workers", "1", "--dataloader_persistent_workers", "True"])


# ------------------------------------------------------------------------------ broken and foreign files
@pytest.fixture
def saved_model(tmp_path, reference):
    """A copy of the reference run's final folder (model, tokenizer, config)."""
    folder = tmp_path / "model"
    shutil.copytree(reference, folder, ignore=shutil.ignore_patterns("checkpoint-*"))
    return folder


def test_truncated_weights_are_named(saved_model):
    damage(saved_model, "model.safetensors:truncated")
    with pytest.raises(OSError, match=r"model\.safetensors is truncated"):
        FlipForCTR.from_pretrained(saved_model)


def test_config_of_another_model_type_is_named(saved_model, tiny_plm):
    shutil.copy(Path(tiny_plm) / "config.json", saved_model / "config.json")
    with pytest.raises(OSError, match=r"config\.json describes a model of type 'bert', not a FLIP model"):
        FlipForCTR.from_pretrained(saved_model)


def edit_vocab(folder: Path, edit) -> None:
    path = folder / "flip_feature_vocab.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    edit(state)
    path.write_text(json.dumps(state), encoding="utf-8")


def grow_gender(state):
    state["vocabularies"]["gender"].append("other")
    state["counts"]["gender"].append(1)
    state["feature_vocab_size"] += 1


def test_a_tokenizer_edited_to_another_vocabulary_is_named(saved_model, table_csv, tmp_path):
    edit_vocab(saved_model, grow_gender)  # consistent in itself, not with the model
    tok = FlipTabularTokenizer.from_pretrained(saved_model)
    model = FlipForCTR.from_pretrained(saved_model, mode="id")
    with pytest.raises(ValueError, match=r"feature ids.*flip_feature_vocab\.json.*config\.json"):
        model.predict_proba(make_table(3), tok)
    with pytest.raises(ValueError, match=r"flip_feature_vocab\.json"):
        finetune_main(finetune_args(table_csv, saved_model, tmp_path / "ft", mode="id") + QUIET)


@pytest.mark.parametrize(
    "edit, needle",
    [
        (lambda s: s.update(feature_vocab_size=s["feature_vocab_size"] + 5), "feature_vocab_size is"),
        (lambda s: s["field_names"].__setitem__(0, "userid"), "No vocabulary given for field"),
        (lambda s: s["counts"]["gender"].pop(), "counts for"),
        (lambda s: s.pop("vocabularies"), "lacks"),
    ],
)
def test_a_broken_tokenizer_file_is_named(saved_model, edit, needle):
    edit_vocab(saved_model, edit)
    with pytest.raises(ValueError, match=needle) as err:
        FlipTabularTokenizer.from_pretrained(saved_model)
    assert str(saved_model / "flip_feature_vocab.json") in str(err.value)
    (saved_model / "flip_feature_vocab.json").write_text('{"field_names": [', encoding="utf-8")
    with pytest.raises(ValueError, match=r"flip_feature_vocab\.json is not a valid .*broken JSON"):
        FlipTabularTokenizer.from_pretrained(saved_model)


def test_a_checkpoint_without_its_tokenizer_is_named(saved_model, table_csv, tmp_path):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (saved_model / name).unlink()
    with pytest.raises(OSError, match="not a loadable text tokenizer"):
        FlipTabularTokenizer.from_pretrained(saved_model)
    (saved_model / "flip_feature_vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"holds no flip_feature_vocab\.json"):
        finetune_main(finetune_args(table_csv, saved_model, tmp_path / "ft", mode="id") + QUIET)


def test_a_finished_run_is_not_overwritten(tmp_path, reference, tiny_plm, table_csv):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match=r"already holds a finished run \(pretrain_results\.json"):
        pretrain_main(pretrain_args(table_csv, tiny_plm, out) + QUIET)
    assert (out / "model.safetensors").read_bytes() == before
    shutil.rmtree(out / "checkpoint-34")  # the end-of-run checkpoint: a resume continues from step 32
    for name in ("model.safetensors", "pretrain_results.json"):
        (out / name).unlink()
    with pytest.raises(FileExistsError, match=r"an interrupted run's checkpoints \(checkpoint-32"):
        pretrain_main(pretrain_args(table_csv, tiny_plm, out) + QUIET)
    ctr = tmp_path / "ctr"
    argv = data_args(table_csv) + ["--mode", "id", "--output_dir", str(ctr), "--max_steps", "2"] + QUIET
    finetune_main(argv)
    with pytest.raises(FileExistsError, match=r"results\.json, model\.safetensors.*--overwrite_output_dir"):
        finetune_main(argv)
    (ctr / "checkpoint-1").mkdir()  # a stale checkpoint of the replaced run
    result = finetune_main(argv + ["--overwrite_output_dir", "True", "--learning_rate", "0.01"])
    assert json.loads((ctr / "results.json").read_text())["learning_rate"] == result["learning_rate"] == 0.01
    assert not (ctr / "checkpoint-1").exists()


# ------------------------------------------------------------------------------ no pickle, no leaks
class Payload:
    """Pickles to a call of ``os.system``: unpickling it runs a command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_resuming_unpickles_no_code(tmp_path, reference, tiny_plm, table_csv):
    out = tmp_path / "run"
    (latest,) = copy_checkpoints(reference, out, steps=(32,))
    marker = tmp_path / "pwned"
    torch.save({"python": Payload(f"touch {marker}")}, latest / "rng_state.pth")
    with pytest.raises(RuntimeError, match=r"checkpoint-32/rng_state\.pth .*weights_only=True"):
        pretrain_main(pretrain_args(table_csv, tiny_plm, out) + QUIET + ["--resume_from_checkpoint", "last"])
    assert not marker.exists()


def test_every_state_file_is_loaded_with_weights_only(tmp_path, reference, tiny_plm, table_csv, monkeypatch):
    out = tmp_path / "run"
    copy_checkpoints(reference, out, steps=(32,))
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append((str(args[0]) if args else "", kwargs.get("weights_only")))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    pretrain_main(pretrain_args(table_csv, tiny_plm, out) + QUIET + ["--resume_from_checkpoint", "last"])
    loaded = {Path(path).name for path, _ in calls}
    assert {"optimizer.pt", "scheduler.pt", "rng_state.pth"} <= loaded, calls
    assert all(weights_only is True for _, weights_only in calls), calls


def test_loading_a_data_set_tokenizer_and_model_runs_no_pickle(reference, table_csv, monkeypatch):
    import pickle

    from flip_hf.data import load_ctr_dataset

    load_ctr_dataset("csv", data_files=table_csv, time_column="ts")  # fills the cache

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    ds = load_ctr_dataset("csv", data_files=table_csv, time_column="ts")  # from the cache
    tok = FlipTabularTokenizer.from_pretrained(reference)
    model = FlipForCTR.from_pretrained(reference)
    assert model.predict_proba(ds["test"].select(range(4)).to_pandas(), tok).shape == (4,)


ALLOWED = {
    "README.md", "config.json", "model.safetensors", "flip_feature_vocab.json", "tokenizer.json",
    "tokenizer_config.json", "configuration_flip.py", "modeling_flip.py",
}  # fmt: skip


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: records repos and uploads, sends nothing."""

    def __init__(self):
        self.repos, self.uploads = [], []
        hub = self

        class Api:
            def __init__(self, token=None, **kwargs):
                pass

            def create_repo(self, repo_id, private=None, exist_ok=False, **kwargs):
                hub.repos.append((repo_id, private))

            def upload_folder(self, folder_path, repo_id, allow_patterns=None, **kwargs):
                hub.uploads.append((Path(folder_path), repo_id, list(allow_patterns)))
                return "ok"

        self.Api = Api


def test_push_checkpoint_to_hub_sends_the_model_files_only(tmp_path, reference, monkeypatch):
    import huggingface_hub

    folder = tmp_path / "run"
    shutil.copytree(reference, folder)  # pretrain_results.json, training_args.json, checkpoints
    (folder / "clicks.csv").write_text("user id,label\n1,1\n")
    (folder / ".env").write_text("HF_TOKEN=hf_secret\n")
    (folder / "token").write_text("hf_secret\n")
    (folder / "runs").mkdir()
    (folder / "runs" / "events.out.tfevents").write_bytes(b"log")
    for name in ("optimizer.pt", "rng_state.pth", "training_args.bin", "train.log"):
        (folder / name).write_bytes(b"x")
    (folder / "README.md").write_text("card")
    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub, "HfApi", hub.Api)
    push_checkpoint_to_hub(str(folder), "someone/flip")
    ((_, repo, files),) = hub.uploads
    assert repo == "someone/flip" and hub.repos == [("someone/flip", True)]
    assert set(files) == {"README.md", "config.json", "model.safetensors", "flip_feature_vocab.json"} | {
        "tokenizer.json",
        "tokenizer_config.json",
    }


def test_trainer_push_to_hub_sends_the_model_files_only(tmp_path, reference, table_csv, monkeypatch):
    """The finetune script with ``--push_to_hub``: every upload (checkpoints during training, the
    final folder) holds model, tokenizer, card and config files, never states, results or logs."""
    import huggingface_hub

    hub = FakeHub()
    monkeypatch.setattr(huggingface_hub, "HfApi", hub.Api)
    out = tmp_path / "flip"
    argv = finetune_args(table_csv, reference, out, mode="id") + ["--save_strategy", "steps", "--save_steps", "8"]
    finetune_main(argv + ["--push_to_hub", "True", "--hub_model_id", "someone/flip-id", "--hub_token", "t"] + QUIET)
    assert hub.repos and all(repo == ("someone/flip-id", True) for repo in hub.repos)
    assert any(folder.name.startswith("checkpoint-") for folder, _, _ in hub.uploads)
    for _, repo, files in hub.uploads:
        assert repo == "someone/flip-id" and "model.safetensors" in files and set(files) <= ALLOWED, files
    final_folder, _, final_files = hub.uploads[-1]
    assert final_folder == out and "README.md" in final_files
    assert "FLIP_ID" in (out / "README.md").read_text()  # the filled-in card, not the Trainer's
