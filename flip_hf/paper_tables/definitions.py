"""The rows of the paper's tables (Table II, III and VII) and of this package's own studies, as
(pretraining variant, finetuning mode) pairs, with the paper's MovieLens-1M numbers beside them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Row:
    """One table row: an optional pretraining run (a preset of `PRETRAINING_PRESETS` plus config
    overrides) followed by a finetuning mode.

    ``preset=None``: no pretraining; ``mode="id"`` is then the plain ID model ("N/A"), ``"joint"``
    FLIP's joint finetuning from the plain encoders (Table VII's "w/o all").
    ``pretrain_budget``: changes of the profile's pretraining budget for this row (``epochs``,
    ``learning_rate``, ``text_learning_rate``: the text encoder's own rate, the rest trains at
    ``learning_rate``; ``seed``: the pretraining's seed, for a replicate of the profile's run;
    ``num_text_layers``: the text encoder's depth in pretraining, None for all its layers).
    ``paper``: the paper's (AUC, Logloss) on MovieLens-1M, where it reports the row.
    ``budget_of``: the name of an earlier row of the table; for each seed this row trains, without any
    selection, at the learning rate and for the epochs that row chose on validation (a budget control).
    ``recipe_from``: the name of another row whose learning rates (the first seed's selection) this
    row trains at, each seed still stopping early on validation: a text epoch is too dear to search
    every text row's grid.
    ``mode`` may also name a PLM baseline of `flip_hf.baselines` (``"ctr_bert"``, ``"p5"``): the
    baseline trained from its text checkpoint, with no pretraining.
    """

    name: str
    mode: str
    preset: str | None = None
    id_model: str = "dcnv2"
    pretrain_overrides: dict[str, Any] = field(default_factory=dict)
    finetune_overrides: dict[str, Any] = field(default_factory=dict)
    pretrain_budget: dict[str, Any] = field(default_factory=dict)
    paper: tuple[float, float] | None = None
    budget_of: str | None = None
    recipe_from: str | None = None

    @property
    def uses_text(self) -> bool:
        return self.mode != "id"

    @property
    def is_baseline(self) -> bool:
        return self.mode in ("ctr_bert", "p5")


def _table3() -> list[Row]:
    paper = {  # Table III: (N/A, FLIP_ID, FLIP_PLM, FLIP)
        "deepfm": ((0.8539, 0.3905), (0.8600, 0.3752), (0.8445, 0.4132), (0.8615, 0.3758)),
        "autoint": ((0.8509, 0.4013), (0.8583, 0.3827), (0.8453, 0.4126), (0.8600, 0.3807)),
        "dcnv2": ((0.8548, 0.3893), (0.8600, 0.3802), (0.8456, 0.4161), (0.8621, 0.3788)),
    }
    names = {"deepfm": "DeepFM", "autoint": "AutoInt", "dcnv2": "DCNv2"}
    rows = []
    for model, (na, fid, fplm, flip) in paper.items():
        n = names[model]
        rows += [
            Row(f"{n} (N/A)", "id", None, model, paper=na),
            Row(f"{n} FLIP_ID", "id", "flip", model, paper=fid),
            Row(f"{n} FLIP_PLM", "plm", "flip", model, paper=fplm),
            Row(f"{n} FLIP", "joint", "flip", model, paper=flip),
        ]
    return rows


TABLES: dict[str, list[Row]] = {
    "2": [  # Table II, MovieLens-1M column; the text rows finetune at the learning rates FLIP_PLM chose
        Row("DCNv2", "id", paper=(0.8548, 0.3893)),
        Row("CTRL", "id", "ctrl", paper=(0.8572, 0.3838)),
        Row("CTR-BERT", "ctr_bert", paper=(0.8304, 0.4131), recipe_from="FLIP_PLM"),
        Row("P5", "p5", paper=(0.8304, 0.4173), recipe_from="FLIP_PLM"),
        Row("PTab", "plm", "ptab", paper=(0.8426, 0.4195), recipe_from="FLIP_PLM"),
        # the control of the text side: the packaged PLM finetuned alone, no pretraining
        Row("PLM (no pretraining)", "plm", None, recipe_from="FLIP_PLM"),
        Row("FLIP_ID", "id", "flip", paper=(0.8600, 0.3802)),
        Row("FLIP_PLM", "plm", "flip", paper=(0.8456, 0.4161)),
        Row("FLIP", "joint", "flip", paper=(0.8621, 0.3788), recipe_from="FLIP_PLM"),
    ],
    "3": _table3(),
    "7": [  # Table VII, MovieLens-1M column; every row finetunes jointly
        Row("FLIP", "joint", "flip", paper=(0.8621, 0.3788)),
        Row("w/o MLM", "joint", "no_mlm", paper=(0.8610, 0.3791)),
        Row("w/o MTM", "joint", "no_mtm", paper=(0.8615, 0.3806)),
        Row("w/o ICL", "joint", "no_icl", paper=(0.8618, 0.3790)),
        Row("w/o MLM & MTM", "joint", "ctrl", paper=(0.8598, 0.3815)),
        Row("w/o all", "joint", None, paper=(0.8593, 0.3810)),
        Row("w/o field-level masking", "joint", "token_masking", paper=(0.8605, 0.3785)),
        Row("w/o joint reconstruction", "joint", "no_joint_reconstruction", paper=(0.8618, 0.3820)),
    ],
    "icl_norm": [  # the ICL normalisation the paper leaves open, at the paper's tau
        Row("DCNv2", "id"),
        Row("FLIP_ID (layernorm)", "id", "flip", pretrain_overrides={"contrastive_norm": "layernorm"}),
        Row("FLIP_ID (l2)", "id", "flip", pretrain_overrides={"contrastive_norm": "l2"}),
        Row("FLIP_ID (layernorm+l2)", "id", "flip", pretrain_overrides={"contrastive_norm": "layernorm+l2"}),
    ],
    "objectives": [  # which pretraining objective helps the ID model (FLIP_ID), alone and in pairs
        Row("DCNv2", "id"),
        Row("FLIP_ID (MLM+MTM+ICL)", "id", "flip"),
        Row("FLIP_ID (MLM)", "id", "mlm_only"),
        Row("FLIP_ID (MTM)", "id", "mtm_only"),
        # MTM whose answer cannot be read from the clean text: the masked fields are reconstructed from the
        # ID model's own masked view (its head reads v-hat, not the text), the ID side's only teacher
        Row("FLIP_ID (MTM, no text view)", "id", "mtm_only", pretrain_overrides={"joint_reconstruction": False}),
        Row("FLIP_ID (ICL)", "id", "ctrl"),
        Row("FLIP_ID (MLM+MTM)", "id", "no_icl"),
        Row("FLIP_ID (MLM+ICL)", "id", "no_mtm"),
        Row("FLIP_ID (MTM+ICL)", "id", "no_mlm"),
    ],
    "alignment": [  # what it takes for pretraining to move the ID side (FLIP_ID against its DCNv2)
        Row("DCNv2", "id"),
        Row("FLIP_ID", "id", "flip"),
        # the similarity scale, isolated: LayerNorm with tau rescaled to the logit range of unit vectors at
        # tau 0.7 (|z|^2 ~ 128 -> tau 128 * 0.7 = 89.6), and unit vectors at a saturating tau of 0.05
        Row(
            "FLIP_ID (layernorm, tau 89.6)",
            "id",
            "flip",
            pretrain_overrides={"contrastive_norm": "layernorm", "contrastive_tau": 89.6},
        ),
        Row("FLIP_ID (l2, tau 0.05)", "id", "flip", pretrain_overrides={"contrastive_tau": 0.05}),
        # the geometry, isolated: LayerNorm's centring and affine map, then unit vectors (the same run as icl_norm's)
        Row("FLIP_ID (layernorm+l2)", "id", "flip", pretrain_overrides={"contrastive_norm": "layernorm+l2"}),
        Row("FLIP_ID (ID lr 1e-3)", "id", "flip", pretrain_budget={"learning_rate": 1e-3, "text_learning_rate": 3e-4}),
        Row("FLIP_ID (ID lr 3e-3)", "id", "flip", pretrain_budget={"learning_rate": 3e-3, "text_learning_rate": 3e-4}),
        Row("FLIP_ID (no joint reconstruction)", "id", "no_joint_reconstruction"),
        # a second pretraining run of the default (initialisation, data order and masks of seed 43)
        Row("FLIP_ID (pretraining seed 43)", "id", "flip", pretrain_budget={"seed": 43}),
        Row("FLIP_ID (pretraining seed 44)", "id", "flip", pretrain_budget={"seed": 44}),
        Row("FLIP_ID (2 pretraining epochs)", "id", "flip", pretrain_budget={"epochs": 2}),
        # the text side at the PLM's full depth (6 MiniLM layers) where the profile cuts it (Section IV-A)
        Row("FLIP_ID (text full depth)", "id", "flip", pretrain_budget={"num_text_layers": None}),
    ],
    "evidence": [  # MovieLens-1M: does pretraining, not budget, move FLIP_ID above its DCNv2?
        Row("DCNv2", "id", paper=(0.8548, 0.3893)),
        Row("FLIP_ID", "id", "flip", paper=(0.8600, 0.3802)),
        # the plain model at the learning rate and epochs FLIP_ID chose, seed by seed: pretraining vs budget
        Row("DCNv2 (FLIP_ID's budget)", "id", budget_of="FLIP_ID"),
        # more pretraining runs of the default (initialisation, data order and masks of seeds 43, 44): the
        # pretraining run is the unit of replication of the FLIP_ID claim
        Row("FLIP_ID (pretraining seed 43)", "id", "flip", pretrain_budget={"seed": 43}),
        Row("DCNv2 (FLIP_ID seed 43's budget)", "id", budget_of="FLIP_ID (pretraining seed 43)"),
        Row("FLIP_ID (pretraining seed 44)", "id", "flip", pretrain_budget={"seed": 44}),
        Row("DCNv2 (FLIP_ID seed 44's budget)", "id", budget_of="FLIP_ID (pretraining seed 44)"),
        Row("CTRL", "id", "ctrl", paper=(0.8572, 0.3838)),
    ],
    "pooling": [  # the PLM head on [CLS] (the paper) or on the token mean (sentence encoders)
        Row("FLIP_PLM (cls)", "plm", "flip", finetune_overrides={"text_pooling": "cls"}),
        Row("FLIP_PLM (mean)", "plm", "flip", finetune_overrides={"text_pooling": "mean"}),
    ],
}
"""Named tables: "2", "3" and "7" are the paper's; the others are this package's own studies."""

ID_MODELS_PAPER = {  # paper Table II and Section V-B text: the ID baselines on MovieLens-1M (AUC, Logloss)
    "afm": ("AFM", (0.8449, None)),
    "pnn": ("PNN", (0.8546, None)),
    "wide_deep": ("Wide&Deep", (0.8509, None)),
    "dcn": ("DCN", (0.8509, None)),
    "deepfm": ("DeepFM", (0.8539, 0.3905)),
    "xdeepfm": ("xDeepFM", (0.8454, None)),
    "afn": ("AFN", (0.8525, None)),
    "autoint": ("AutoInt", (0.8509, 0.4013)),
    "dcnv2": ("DCNv2", (0.8548, 0.3893)),
}
TABLES["id_models"] = [Row(name, "id", None, model, paper=paper) for model, (name, paper) in ID_MODELS_PAPER.items()]

SWEEPS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "mask_ratio": (("text_mask_ratio", "tab_mask_ratio"), (0.15, 0.3, 0.6)),  # paper Fig. 6
    "tau": (("contrastive_tau",), (0.05, 0.1, 0.3, 0.5, 0.7, 1.0)),  # paper Fig. 7
}
"""Hyperparameter sweeps of paper Section V-E: the pretraining fields swept together and their values."""


def _sweep_rows(fields: tuple[str, ...], values: tuple[float, ...]) -> list[Row]:
    """FLIP_ID after pretraining at each value (FLIP_ID: the sweep's finetuning stays cheap on a CPU)."""
    name = "=".join(fields)
    return [Row(f"{name}={v:g}", "id", "flip", pretrain_overrides=dict.fromkeys(fields, v)) for v in values]


TABLES.update({name: _sweep_rows(fields, values) for name, (fields, values) in SWEEPS.items()})

TABLE_TITLES = {
    "2": "Table II: FLIP against ID-based, PLM-based and hybrid baselines",
    "3": "Table III: FLIP with different ID models",
    "7": "Table VII: ablation of the pretraining objectives",
    "icl_norm": "ICL normalisation (the paper's 'normalization layer' after the projections)",
    "pooling": "Text pooling of the PLM head",
    "objectives": "FLIP_ID after each pretraining objective alone and in pairs",
    "alignment": "FLIP_ID against DCNv2: what the pretraining budget of the ID side changes",
    "evidence": "FLIP_ID against a fully trained DCNv2 and a budget control, over pretraining runs",
    "id_models": "The nine ID-based CTR models (the paper's ID baselines)",
    "mask_ratio": "Mask ratio sweep (text and tabular together), FLIP_ID",
    "tau": "ICL temperature sweep, FLIP_ID",
}

__all__ = ["Row", "SWEEPS", "TABLES", "TABLE_TITLES"]
