"""Export of FLIP_ID (a `FlipForCTR` in mode ``"id"``: ID model, ID head and σ; paper Section IV-D)
to ONNX with a dynamic batch size, with the tokenizer's ID view beside it as plain JSON
(``flip_id_view.json``), so that a service without Python or torch can encode a row and score it:
the language model is not needed at serving time (paper Section IV-C).

Needs the ``serve`` extra (``pip install "flip_hf[serve]"``: onnx, onnxscript, onnxruntime).

``flip_id_view.json`` (``format = "flip_id_view"``, ``format_version = 1``)::

    field_names          the fields, in the order of the model's input columns
    fields[i]            {"name", "unknown_id", "values": {value text: feature id}}
    pad_id, mask_id      reserved ids (0 and 1); <PAD> is never produced
    missing_value        "unknown_id": a missing cell gets its field's unknown id
    unseen_value         "unknown_id" or "mask_id": the id of a value absent from "values"
    feature_vocab_size   every id is in [0, feature_vocab_size)
    cell_to_text         how a cell becomes the text looked up in "values" (`flip_hf.schema.cell_to_text`)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..schema import cells_to_text, rows_to_columns

ONNX_FILE = "model.onnx"
ID_VIEW_FILE = "flip_id_view.json"
ID_VIEW_FORMAT = "flip_id_view"
INPUT_NAME = "feature_ids"
OUTPUT_NAMES = ("probability", "logit")
EXPORT_TOLERANCE = 1e-5
"""Largest difference allowed between onnxruntime's and PyTorch's probabilities."""

CELL_TO_TEXT_RULES = [
    "null, a float or decimal NaN, NA/NaT and text that is empty after stripping are missing",
    "booleans are 'True' / 'False'; integers their decimal digits ('3', '-12')",
    "integral floats are written as integers (3.0 -> '3'); other floats as the shortest round-trip repr",
    "bytes are decoded as UTF-8 (invalid bytes replaced); anything else is its string form",
    "then leading and trailing whitespace is stripped; the text is looked up as-is (case matters)",
]


def require_serve_extra() -> None:
    """ImportError naming the missing packages of the ``serve`` extra."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"ONNX export and serving need {', '.join(missing)}: pip install 'flip_hf[serve]'.")


class IDClickModel(nn.Module):
    """FLIP_ID as one module: feature ids (B, F) int64 -> (probability (B,), logit (B,)), float32."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.id_model = model.id_model
        self.id_head = model.id_head

    def forward(self, feature_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit = self.id_head(self.id_model(feature_ids)).squeeze(-1)
        return torch.sigmoid(logit), logit


def id_view_spec(tokenizer: Any) -> dict[str, Any]:
    """The ID view of a `FlipTabularTokenizer` as a JSON-ready dict (the layout of the module doc)."""
    state = tokenizer.to_dict()
    fields = []
    for name, unknown in zip(tokenizer.field_names, tokenizer.field_offsets):
        values = state["vocabularies"][name]
        fields.append(
            {"name": name, "unknown_id": unknown, "values": {v: unknown + 1 + i for i, v in enumerate(values)}}
        )
    return {
        "format": ID_VIEW_FORMAT,
        "format_version": 1,
        "model_input": INPUT_NAME,
        "field_names": list(tokenizer.field_names),
        "feature_vocab_size": tokenizer.feature_vocab_size,
        "pad_id": tokenizer.pad_feature_id,
        "mask_id": tokenizer.mask_feature_id,
        "missing_value": "unknown_id",
        "unseen_value": "mask_id" if tokenizer.unseen_id == "mask" else "unknown_id",
        "cell_to_text": CELL_TO_TEXT_RULES,
        "fields": fields,
    }


class IDViewEncoder:
    """Rows -> feature ids (N, F) from ``flip_id_view.json`` alone: the reference of what a service
    in another language implements; equal to the tokenizer's ``encode_features``."""

    def __init__(self, spec: Mapping[str, Any]):
        if spec.get("format") != ID_VIEW_FORMAT:
            raise ValueError(f"Not a {ID_VIEW_FILE} spec: format is {spec.get('format')!r}.")
        self.spec = dict(spec)
        self.field_names = [f["name"] for f in spec["fields"]]
        self._unknown = [int(f["unknown_id"]) for f in spec["fields"]]
        self._values = [dict(f["values"]) for f in spec["fields"]]
        self._unseen_is_mask = spec["unseen_value"] == "mask_id"
        self.mask_id = int(spec["mask_id"])

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> IDViewEncoder:
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def save(self, path: str | os.PathLike) -> str:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.spec, fh, ensure_ascii=False, indent=1)
        return str(path)

    def _column_ids(self, f: int, column: list[Any]) -> list[int]:
        values, unknown = self._values[f], self._unknown[f]
        unseen = self.mask_id if self._unseen_is_mask else unknown
        return [unknown if text is None else values.get(text, unseen) for text in cells_to_text(column)]

    def encode(self, rows: Any) -> np.ndarray:
        """Feature ids (N, F) int64 of rows in any format `FlipTabularTokenizer` takes; a field absent
        from every row is a KeyError naming it, as there."""
        columns = rows_to_columns(rows)
        missing = [f for f in self.field_names if f not in columns]
        if missing:
            raise KeyError(
                f"Missing column(s) {missing}: this tokenizer was fitted on fields {self.field_names}, "
                f"the rows have {list(columns)}."
            )
        ids = [self._column_ids(f, columns[name]) for f, name in enumerate(self.field_names)]
        if not ids[0]:
            raise ValueError("Got an empty batch of rows.")
        return np.asarray(ids, dtype=np.int64).T.copy()


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter logs every step and warns about operator sets; keep that out of the way."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def example_ids(tokenizer: Any, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` rows of valid ids: per field its unknown id or one of its values, drawn at random."""
    rng = np.random.default_rng(seed)
    columns = [
        rng.integers(offset, offset + size, n) for offset, size in zip(tokenizer.field_offsets, tokenizer.field_sizes)
    ]
    return torch.as_tensor(np.stack(columns, axis=1), dtype=torch.long)


def export_id_onnx(
    model: Any, tokenizer: Any, output_dir: str | os.PathLike, overwrite: bool = False, check: bool = True
) -> dict[str, str]:
    """Write ``model.onnx`` (input ``feature_ids`` (batch, F) int64; outputs ``probability`` and
    ``logit``, (batch,) float32) and ``flip_id_view.json`` into ``output_dir``; returns their paths.

    ``model`` is a `FlipForCTR` in mode ``"id"`` (``FlipForCTR.from_pretrained(folder, mode="id")``
    takes the ID side of a joint checkpoint). Existing files are replaced only with ``overwrite``.
    With ``check``, the file runs on onnxruntime and must match PyTorch within `EXPORT_TOLERANCE`.
    """
    require_serve_extra()
    mode = getattr(getattr(model, "config", None), "mode", None)
    if mode != "id" or getattr(model, "id_model", None) is None:
        raise ValueError(
            f"ONNX export serves FLIP_ID, a FlipForCTR in mode 'id'; got mode {mode!r}. "
            "Load the folder with FlipForCTR.from_pretrained(folder, mode='id')."
        )
    model.check_tokenizer(tokenizer)
    output_dir = str(output_dir)
    paths = {"onnx": os.path.join(output_dir, ONNX_FILE), "id_view": os.path.join(output_dir, ID_VIEW_FILE)}
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s): pass overwrite=True to replace.")
    os.makedirs(output_dir, exist_ok=True)
    module = IDClickModel(model).cpu()
    was_training = model.training
    model.eval()
    try:
        with _quiet_exporter():
            torch.onnx.export(
                module,
                (example_ids(tokenizer, 2),),
                paths["onnx"],
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,
            )
        if check:
            session = OnnxIDModel.session_of(paths["onnx"])
            ids = example_ids(tokenizer, 37, seed=1)
            with torch.no_grad():
                expected = module(ids)[0].double().numpy()
            got = session.run([OUTPUT_NAMES[0]], {INPUT_NAME: ids.numpy()})[0]
            worst = float(np.abs(got.astype(np.float64) - expected).max())
            if got.shape != (37,) or worst > EXPORT_TOLERANCE:
                raise RuntimeError(
                    f"{paths['onnx']}: onnxruntime differs from PyTorch (shape {got.shape}, {worst:.2e})."
                )
    finally:
        model.train(was_training)
    IDViewEncoder(id_view_spec(tokenizer)).save(paths["id_view"])
    return paths


def export_folder(
    model_dir: str | os.PathLike, output_dir: str | os.PathLike, overwrite: bool = False
) -> dict[str, str]:
    """`export_id_onnx` of a saved model folder: its ID side (mode ``"id"``) and its saved tokenizer."""
    from ..models.modeling_flip import FlipForCTR
    from ..tokenization.tokenization_flip import FlipTabularTokenizer

    model = FlipForCTR.from_pretrained(str(model_dir), mode="id")
    return export_id_onnx(model, FlipTabularTokenizer.from_pretrained(str(model_dir)), output_dir, overwrite)


class OnnxIDModel:
    """An exported FLIP_ID folder on onnxruntime, without torch or the tokenizer:
    ``OnnxIDModel(folder).predict_proba(rows)``."""

    def __init__(self, folder: str | os.PathLike, threads: int | None = None):
        require_serve_extra()
        folder = str(folder)
        self.encoder = IDViewEncoder.from_file(os.path.join(folder, ID_VIEW_FILE))
        self.session = self.session_of(os.path.join(folder, ONNX_FILE), threads)

    @staticmethod
    def session_of(path: str, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def predict_ids(self, feature_ids: np.ndarray) -> np.ndarray:
        """Probabilities (B,) float32 of feature ids (B, F)."""
        return self.session.run([OUTPUT_NAMES[0]], {INPUT_NAME: np.asarray(feature_ids, dtype=np.int64)})[0]

    def predict_proba(self, rows: Any, batch_size: int = 4096) -> np.ndarray:
        """Probabilities (N,) float32 of raw rows; a ValueError rather than values that are not finite."""
        ids = self.encoder.encode(rows)
        probs = np.concatenate([self.predict_ids(ids[s : s + batch_size]) for s in range(0, len(ids), batch_size)])
        bad = np.flatnonzero(~np.isfinite(probs))
        if bad.size:
            raise ValueError(
                f"The model gave non-finite probabilities for {bad.size} row(s) (first: row {int(bad[0])}): "
                "its weights hold NaN or infinity."
            )
        return probs


__all__ = [
    "EXPORT_TOLERANCE",
    "ID_VIEW_FILE",
    "IDClickModel",
    "IDViewEncoder",
    "ONNX_FILE",
    "OnnxIDModel",
    "export_folder",
    "export_id_onnx",
    "id_view_spec",
    "require_serve_extra",
]
