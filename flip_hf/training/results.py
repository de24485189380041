"""What the pipelines return: a result object per kind of run, with typed access to its headline
figures, read like the JSON file the run writes (``result["validation_auc"]``, ``dict(result)``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class RunResult(Mapping[str, Any]):
    """A run's figures by name, as its results file holds them, and the folder it saved into."""

    output_dir: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.figures[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.figures)

    def __len__(self) -> int:
        return len(self.figures)

    def to_dict(self) -> dict[str, Any]:
        """The figures as a plain dict (what the results file holds)."""
        return dict(self.figures)


@dataclass(eq=False)
class PretrainResult(RunResult):
    """`run_pretrain`'s summary (``pretrain_results.json``): data, model, budget, final losses."""

    @property
    def global_step(self) -> int:
        return int(self.figures["global_step"])

    @property
    def train_samples(self) -> int:
        return int(self.figures["train_samples"])

    @property
    def final_losses(self) -> dict[str, float]:
        """The last logged total, MLM, MTM and ICL losses (those the run used)."""
        return dict(self.figures["final_losses"])


@dataclass(eq=False)
class CTRResult(RunResult):
    """A trained CTR model's figures (``results.json``): the test split read once at the end, the
    final model's validation metrics when there was a validation split, sizes, recipe and timings."""

    @property
    def auc(self) -> float:
        return float(self.figures["auc"])

    @property
    def logloss(self) -> float:
        return float(self.figures["logloss"])

    @property
    def validation_auc(self) -> float | None:
        value = self.figures.get("validation_auc")
        return None if value is None else float(value)


__all__ = ["CTRResult", "PretrainResult", "RunResult"]
