"""The ``"ctr-prediction"`` transformers pipeline: raw rows in, click probabilities out (paper Eq. 17).

```python
import flip_hf  # registers the task
from transformers import pipeline

ctr = pipeline("ctr-prediction", model="runs/flip_id")  # uses the tokenizer saved in the folder
ctr({"user id": "1", "gender": "female", ...})            # one row -> a float
ctr(dataframe, batch_size=4096)                           # rows -> a list of floats, in input order
```

Each batch is scored by `FlipForCTR.predict_proba` (the one prediction loop, `flip_hf.models.prediction`),
so rows, unseen and missing values and errors are treated exactly as there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from transformers import AutoModel, Pipeline

from ..models.modeling_flip import FlipForCTR
from ..schema import _is_column
from ..tokenization.tokenization_flip import FlipTabularTokenizer

CTR_TASK = "ctr-prediction"
DEFAULT_BATCH_SIZE = 1024


def _as_dataset(rows: Any) -> Any:
    """``rows`` when it is a `datasets.Dataset`, else None; a DatasetDict is a TypeError."""
    import datasets

    if isinstance(rows, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        raise TypeError("Got a DatasetDict: pass one split (dataset['test']).")
    return rows if isinstance(rows, datasets.Dataset) else None


class _Chunk:
    """A chunk of raw field columns, opaque to `Pipeline.forward`'s device placement, which would
    otherwise walk every cell (at 4,096 rows that walk took longer than DCNv2's forward pass);
    `FlipForCTR.predict_proba` moves the encoded tensors to the model's device itself."""

    __slots__ = ("columns",)

    def __init__(self, columns: dict[str, list[Any]]):
        self.columns = columns


class CTRPredictionPipeline(Pipeline):
    """Click probabilities of raw table rows with a `FlipForCTR` (modes ``id``, ``plm`` and ``joint``).

    Rows: one row (a dict of cells), a list of dicts, a dict of columns, a pandas DataFrame or a
    `datasets.Dataset` (read batch by batch). They are scored ``batch_size`` rows at a time (default
    1024; the ``batch_size`` of ``pipeline(...)`` or of the call) with the model's
    `FlipTabularTokenizer`: the one passed as ``tokenizer`` (an object or a folder), else the one saved
    beside the model. The model sits on the pipeline's ``device`` and its inputs follow it.

    Returns a float for one row, else a list of floats in input order. As `FlipForCTR.predict_proba`:
    a field no row has is a KeyError naming it, and probabilities that are not finite a ValueError.
    """

    _load_tokenizer = False
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __init__(self, model: FlipForCTR, tokenizer: FlipTabularTokenizer | str | None = None, **kwargs: Any):
        if not isinstance(model, FlipForCTR):
            raise TypeError(f"The ctr-prediction pipeline serves FlipForCTR models, got a {type(model).__name__}.")
        if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
            source = tokenizer or model.name_or_path
            if not source:
                raise ValueError(
                    "The model was not loaded from a folder: pass tokenizer=FlipTabularTokenizer.from_pretrained(...)."
                )
            tokenizer = FlipTabularTokenizer.from_pretrained(source)
        model.check_tokenizer(tokenizer)
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.model.eval()

    def _sanitize_parameters(self, **kwargs: Any):
        if kwargs:
            raise TypeError(f"Unknown ctr-prediction pipeline argument(s) {sorted(kwargs)} (it takes batch_size).")
        return {}, {}, {}

    def __call__(self, rows: Any, batch_size: int | None = None, **kwargs: Any) -> float | list[float]:
        params = self._sanitize_parameters(**kwargs)
        size = int(batch_size or self._batch_size or DEFAULT_BATCH_SIZE)
        if size < 1:
            raise ValueError(f"batch_size must be >= 1, got {size}.")
        one_row = isinstance(rows, Mapping) and not any(_is_column(v) for v in rows.values())
        out, start = [], 0
        for columns in self._chunks(rows, size):
            n = len(columns[self.tokenizer.field_names[0]])
            try:
                out.append(self.run_single(columns, *params))
            except ValueError as err:
                raise ValueError(f"{err} (rows {start} to {start + n - 1} of the input)") from None
            start += n
        probs = torch.cat(out)
        return float(probs[0]) if one_row else probs.tolist()

    def _chunks(self, rows: Any, size: int) -> Iterator[dict[str, list[Any]]]:
        """Checked field columns, ``size`` rows at a time (a Dataset is read batch by batch)."""
        dataset = _as_dataset(rows)
        if dataset is not None:
            if len(dataset) == 0:
                raise ValueError("Got an empty dataset.")
            self.tokenizer.field_columns({c: [None] for c in dataset.column_names})  # the KeyError before any work
            for batch in dataset.with_format(None).iter(batch_size=size):
                yield self.tokenizer.field_columns(batch)
            return
        columns = self.tokenizer.field_columns(rows)
        n = len(columns[self.tokenizer.field_names[0]])
        for start in range(0, n, size):
            yield {k: v[start : start + size] for k, v in columns.items()}

    def preprocess(self, columns: dict[str, list[Any]]) -> _Chunk:
        return _Chunk(columns)

    def _forward(self, chunk: _Chunk) -> torch.Tensor:
        n = len(chunk.columns[self.tokenizer.field_names[0]])
        return self.model.predict_proba(chunk.columns, self.tokenizer, batch_size=n)

    def postprocess(self, probs: torch.Tensor) -> torch.Tensor:
        return probs.float().cpu()

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """The model and its tokenizer (no pipeline code: ``import flip_hf`` registers the task)."""
        self.model.save_pretrained(save_directory, **kwargs)
        self.tokenizer.save_pretrained(save_directory)


def ctr_pipeline(model: str | os.PathLike, device: Any = None, batch_size: int | None = None) -> CTRPredictionPipeline:
    """``transformers.pipeline("ctr-prediction", model=...)`` of a saved model folder or Hub repo."""
    from transformers import pipeline

    register_pipeline()
    return pipeline(CTR_TASK, model=str(model), device=device, batch_size=batch_size)


def register_pipeline() -> None:
    """Register ``"ctr-prediction"`` with transformers' `PIPELINE_REGISTRY` (``import flip_hf`` does
    this); a second call does nothing."""
    from transformers.pipelines import PIPELINE_REGISTRY

    current = PIPELINE_REGISTRY.supported_tasks.get(CTR_TASK)
    if current is not None and current.get("impl") is CTRPredictionPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(CTR_TASK, pipeline_class=CTRPredictionPipeline, pt_model=AutoModel)


__all__ = ["CTR_TASK", "CTRPredictionPipeline", "ctr_pipeline", "register_pipeline"]
