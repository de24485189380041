"""Serving (issue #26): the ``ctr-prediction`` pipeline, ``flip-hf predict`` batch scoring, the ONNX
export of FLIP_ID and the remote code for Hub users without flip_hf."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from synthetic import make_table
from transformers import pipeline

from flip_hf import CTRPredictionPipeline, FlipConfig, FlipForCTR, score_file
from flip_hf.commands.main import main as flip_hf_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL_ID = dict(id_embedding_dim=8, id_mlp_hidden_sizes=[16])


def save_model(folder, flip_tokenizer, text_config=None, mode="id", seed=0, **kw) -> str:
    torch.manual_seed(seed)
    config = FlipConfig.from_tokenizer(flip_tokenizer, text_config=text_config, mode=mode, **{**SMALL_ID, **kw})
    FlipForCTR(config).save_pretrained(folder)
    flip_tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, flip_tokenizer):
    from transformers import BertConfig

    text_config = BertConfig(
        vocab_size=len(flip_tokenizer.text_tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    root = tmp_path_factory.mktemp("serving_models")
    return {
        mode: save_model(root / mode, flip_tokenizer, text_config if mode != "id" else None, mode=mode)
        for mode in ("id", "plm", "joint")
    }


def rows_of(table, n):
    return [{k: table[k][i] for k in table} for i in range(n)]


# ------------------------------------------------------------------------------------------- pipeline
@pytest.mark.parametrize("mode", ["id", "plm", "joint"])
def test_pipeline_matches_predict_proba_for_every_row_format(mode, model_dirs, table, flip_tokenizer):
    ctr = pipeline("ctr-prediction", model=model_dirs[mode], device="cpu")
    assert isinstance(ctr, CTRPredictionPipeline) and ctr.model.config.mode == mode
    n = 37
    columns = {k: v[:n] for k, v in table.items()}
    expected = FlipForCTR.from_pretrained(model_dirs[mode]).predict_proba(columns, flip_tokenizer).tolist()
    one = ctr(rows_of(table, 1)[0])
    assert isinstance(one, float) and math.isclose(one, expected[0], abs_tol=1e-6)
    for rows in (rows_of(table, n), columns, pd.DataFrame(columns), datasets.Dataset.from_dict(columns)):
        got = ctr(rows, batch_size=8)  # 5 batches, the last one short
        assert isinstance(got, list) and len(got) == n
        np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(ctr(columns), expected, atol=1e-6)  # the default batch size


def test_pipeline_unseen_and_missing_values_and_errors(model_dirs, table, flip_tokenizer):
    ctr = pipeline("ctr-prediction", model=model_dirs["id"], batch_size=2)
    model = FlipForCTR.from_pretrained(model_dirs["id"])
    odd = rows_of(table, 3)
    odd[0]["user id"] = "never seen"
    odd[1]["occupation"] = float("nan")
    del odd[2]["genres"]  # absent from one row: missing
    odd[2]["extra"] = "ignored"
    np.testing.assert_allclose(ctr(odd), model.predict_proba(odd, flip_tokenizer).tolist(), atol=1e-6)
    bad = [{k: v for k, v in r.items() if k != "gender"} for r in rows_of(table, 3)]
    for call in (lambda: ctr(bad), lambda: model.predict_proba(bad, flip_tokenizer)):
        with pytest.raises(KeyError, match=r"Missing column\(s\) \['gender'\]"):
            call()
    with pytest.raises(KeyError, match="gender"):
        ctr(datasets.Dataset.from_list(bad))
    with pytest.raises(ValueError, match="empty"):
        ctr([])
    with pytest.raises(TypeError, match="DatasetDict"):
        ctr(datasets.DatasetDict({"test": datasets.Dataset.from_dict(table)}))
    with pytest.raises(TypeError, match="Unknown ctr-prediction pipeline argument"):
        ctr(odd, top_k=3)


def test_pipeline_non_finite_weights_name_the_row(model_dirs, table, flip_tokenizer):
    model = FlipForCTR.from_pretrained(model_dirs["id"])
    with torch.no_grad():
        model.id_head.bias.fill_(float("nan"))
    ctr = pipeline("ctr-prediction", model=model, tokenizer=flip_tokenizer)
    with pytest.raises(ValueError, match=r"non-finite probabilities .* \(rows 0 to 3 of the input\)"):
        ctr(rows_of(table, 10), batch_size=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_pipeline_on_a_gpu_moves_the_inputs_there(model_dirs, table, flip_tokenizer):
    ctr = pipeline("ctr-prediction", model=model_dirs["joint"], device="cuda")
    assert next(ctr.model.parameters()).device.type == "cuda"
    expected = FlipForCTR.from_pretrained(model_dirs["joint"]).predict_proba(rows_of(table, 9), flip_tokenizer)
    np.testing.assert_allclose(ctr(rows_of(table, 9), batch_size=4), expected.tolist(), atol=1e-4)


def test_pipeline_refuses_other_models_and_needs_a_tokenizer(flip_tokenizer):
    model = FlipForCTR(FlipConfig.from_tokenizer(flip_tokenizer, mode="id", **SMALL_ID))
    with pytest.raises(ValueError, match="pass tokenizer="):
        CTRPredictionPipeline(model=model)
    with pytest.raises(TypeError, match="serves FlipForCTR"):
        CTRPredictionPipeline(model=torch.nn.Linear(2, 1), tokenizer=flip_tokenizer)


def test_import_registers_the_task_once():
    from transformers.pipelines import PIPELINE_REGISTRY

    from flip_hf.serving import register_pipeline

    register_pipeline()
    assert PIPELINE_REGISTRY.supported_tasks["ctr-prediction"]["impl"] is CTRPredictionPipeline


# ------------------------------------------------------------------------------------------ batch scoring
def write_rows(path, n, seed=1):
    frame = pd.DataFrame(make_table(n, seed=seed)).drop(columns=["label"])
    frame.insert(0, "request", [f"r{i}" for i in range(n)])
    if str(path).endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=64)
    return frame


@pytest.mark.parametrize(("src", "dst"), [("parquet", "parquet"), ("csv", "csv"), ("parquet", "csv")])
def test_flip_hf_predict_streams_in_chunks_in_input_order(src, dst, model_dirs, flip_tokenizer, tmp_path, capsys):
    n = 250
    frame = write_rows(tmp_path / f"rows.{src}", n)
    out = tmp_path / f"scores.{dst}"
    argv = ["predict", "--model", model_dirs["id"], "--input", str(tmp_path / f"rows.{src}"), "--output", str(out)]
    assert flip_hf_main([*argv, "--chunk_size", "64", "--keep_columns", "request"]) == 0
    assert '"rows": 250' in capsys.readouterr().out
    scores = pq.read_table(out).to_pandas() if dst == "parquet" else pd.read_csv(out)
    assert len(scores) == n and scores["request"].tolist() == frame["request"].tolist()
    csv_frame = frame.astype(str).where(frame.notna(), None)  # csv cells are read as text
    expected = FlipForCTR.from_pretrained(model_dirs["id"]).predict_proba(
        csv_frame if src == "csv" else frame, flip_tokenizer
    )
    np.testing.assert_allclose(scores["probability"].to_numpy(), expected.numpy(), atol=1e-6)
    before = os.path.getmtime(out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        flip_hf_main(argv)
    assert os.path.getmtime(out) == before
    assert flip_hf_main([*argv, "--overwrite", "--chunk_size", "100", "--no_progress"]) == 0
    assert len(pq.read_table(out) if dst == "parquet" else pd.read_csv(out)) == n


def test_score_file_errors_leave_no_output(model_dirs, tmp_path):
    frame = write_rows(tmp_path / "rows.parquet", 20)
    pq.write_table(pa.Table.from_pandas(frame.drop(columns=["gender"])), tmp_path / "bad.parquet")
    out = tmp_path / "scores.parquet"
    with pytest.raises(KeyError, match="gender"):
        score_file(model_dirs["id"], tmp_path / "bad.parquet", out, progress=False)
    with pytest.raises(KeyError, match="nope"):
        score_file(model_dirs["id"], tmp_path / "rows.parquet", out, keep_columns=["nope"], progress=False)
    with pytest.raises(ValueError, match="format"):
        score_file(model_dirs["id"], tmp_path / "rows.parquet", tmp_path / "scores.txt", progress=False)
    with pytest.raises(ValueError, match="is the input"):
        score_file(model_dirs["id"], tmp_path / "rows.parquet", tmp_path / "rows.parquet", overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["bad.parquet", "rows.parquet"]


def test_score_file_failing_midway_removes_its_partial_output(model_dirs, flip_tokenizer, tmp_path):
    model = FlipForCTR.from_pretrained(model_dirs["id"])
    with torch.no_grad():
        model.id_head.bias.fill_(float("nan"))
    ctr = pipeline("ctr-prediction", model=model, tokenizer=flip_tokenizer)
    write_rows(tmp_path / "rows.parquet", 100)
    with pytest.raises(ValueError, match=r"non-finite .*\(input rows 0 to 31\)"):
        score_file(ctr, tmp_path / "rows.parquet", tmp_path / "scores.parquet", chunk_size=32, progress=False)
    assert os.listdir(tmp_path) == ["rows.parquet"]


def test_flip_hf_console_script(model_dirs, tmp_path):
    write_rows(tmp_path / "rows.csv", 30)
    exe = os.path.join(os.path.dirname(sys.executable), "flip-hf")
    assert os.path.isfile(exe), "flip-hf is not installed: pip install -e ."
    cmd = [exe, "predict", "--model", model_dirs["id"], "--input", str(tmp_path / "rows.csv")]
    done = subprocess.run([*cmd, "--output", str(tmp_path / "s.parquet")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.num_rows == 30
    again = subprocess.run([*cmd, "--output", str(tmp_path / "s.parquet")], capture_output=True, text=True)
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_library_never_imports_its_command_line():
    code = "import sys, flip_hf, flip_hf.serving; assert 'flip_hf.commands' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


# ------------------------------------------------------------------------------------------ ONNX export
SMALL_INTERACTIONS = {
    "afn": {"logarithmic_neurons": 16},
    "xdeepfm": {"cin_layer_sizes": [8, 8]},
    "autoint": {"attention_dim": 8},
}


def odd_rows(table, n=40):
    """Real rows, then unseen values, missing values (None, NaN, empty text, an absent key), numbers."""
    rows = rows_of(table, n)
    rows[0]["user id"] = "never seen"
    rows[1]["movie id"] = 10_000
    rows[2]["occupation"] = None
    rows[3]["genres"] = float("nan")
    rows[4]["title"] = "   "
    del rows[5]["gender"]
    rows[6]["user id"] = int(table["user id"][6])  # an int cell reads as its digits: a known value
    return rows


@pytest.mark.parametrize("id_model", sorted(__import__("flip_hf").list_id_models()))
def test_onnx_export_matches_pytorch(id_model, flip_tokenizer, table, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from flip_hf.serving.export import ID_VIEW_FILE, ONNX_FILE, OnnxIDModel, export_id_onnx

    torch.manual_seed(0)
    config = FlipConfig.from_tokenizer(
        flip_tokenizer, mode="id", id_model=id_model, **SMALL_ID, **SMALL_INTERACTIONS.get(id_model, {})
    )
    model = FlipForCTR(config)
    paths = export_id_onnx(model, flip_tokenizer, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([ONNX_FILE, ID_VIEW_FILE]) and model.training
    served = OnnxIDModel(tmp_path)
    rows = odd_rows(table)
    expected = model.predict_proba(rows, flip_tokenizer).numpy()
    np.testing.assert_array_equal(served.encoder.encode(rows), flip_tokenizer.encode_features(rows).numpy())
    for batch_size in (1, 7, 4096):  # dynamic batch
        got = served.predict_proba(rows, batch_size=batch_size)
        assert got.shape == (len(rows),) and got.dtype == np.float32
        assert np.abs(got.astype(np.float64) - expected).max() <= 1e-5
    session = ort.InferenceSession(paths["onnx"], providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probability", "logit"]


def test_onnx_export_of_a_folder_and_its_errors(model_dirs, flip_tokenizer, table, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import json

    from flip_hf.serving.export import OnnxIDModel, export_id_onnx

    with pytest.raises(ValueError, match="mode='id'"):
        export_id_onnx(FlipForCTR.from_pretrained(model_dirs["joint"]), flip_tokenizer, tmp_path / "x")
    out = tmp_path / "onnx"
    assert flip_hf_main(["export", "--model", model_dirs["joint"], "--output", str(out)]) == 0  # its ID side
    assert json.loads(capsys.readouterr().out)["onnx"].endswith("model.onnx")
    rows = odd_rows(table, 20)
    id_side = FlipForCTR.from_pretrained(model_dirs["joint"], mode="id")
    np.testing.assert_allclose(
        OnnxIDModel(out).predict_proba(rows), id_side.predict_proba(rows, flip_tokenizer).numpy(), atol=1e-5
    )
    with pytest.raises(FileExistsError, match="overwrite"):
        flip_hf_main(["export", "--model", model_dirs["id"], "--output", str(out)])
    spec = json.loads((out / "flip_id_view.json").read_text())
    assert spec["field_names"] == flip_tokenizer.field_names
    assert [f["unknown_id"] for f in spec["fields"]] == flip_tokenizer.field_offsets
    with pytest.raises(KeyError, match="gender"):
        OnnxIDModel(out).predict_proba([{k: v for k, v in r.items() if k != "gender"} for r in rows])


# ------------------------------------------------------------------------------- Hub users without flip_hf
HIDE_FLIP_HF = """
import importlib.abc, sys

class HideFlipHF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "flip_hf" or name.startswith("flip_hf."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideFlipHF())
"""

LOAD = """
from transformers import AutoModel
try:
    model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
except ImportError as err:
    print("IMPORT ERROR:", err)
else:
    print("LOADED:", type(model).__module__, type(model).__name__)
"""


def run_fresh(code, folder, tmp_path):
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, folder], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_remote_code_without_flip_hf_says_how_to_install_it(model_dirs, tmp_path):
    import shutil

    from flip_hf.training.hub import INSTALL_COMMAND, add_auto_map

    folder = str(tmp_path / "pushed")
    shutil.copytree(model_dirs["id"], folder)
    add_auto_map(folder)
    hidden = run_fresh(HIDE_FLIP_HF + LOAD, folder, tmp_path)
    assert "IMPORT ERROR:" in hidden and INSTALL_COMMAND in hidden, hidden
    assert "not published on PyPI" in hidden and "Run `pip install flip_hf`" not in hidden
    # with flip_hf installed, the stub hands over flip_hf's own class, without `import flip_hf` first
    shown = run_fresh("import sys\n" + LOAD, folder, tmp_path)
    assert "LOADED: flip_hf.models.modeling_flip FlipForCTR" in shown, shown


def test_remote_code_stubs_of_earlier_folders_still_load(model_dirs, tmp_path):
    """Folders saved before the models/ package existed import flip_hf.modeling_flip and
    flip_hf.configuration_flip in their stubs: those module names must keep loading."""
    import shutil

    from flip_hf.training.hub import add_auto_map

    folder = tmp_path / "earlier"
    shutil.copytree(model_dirs["id"], folder)
    add_auto_map(str(folder))
    for stub, old in (
        ("modeling_flip.py", "flip_hf.modeling_flip"),
        ("configuration_flip.py", "flip_hf.configuration_flip"),
    ):
        text = (folder / stub).read_text()
        assert "from flip_hf import " in text
        (folder / stub).write_text(text.replace("from flip_hf import ", f"from {old} import "))
    shown = run_fresh("import sys\n" + LOAD, str(folder), tmp_path)
    assert "LOADED: flip_hf.models.modeling_flip FlipForCTR" in shown, shown
