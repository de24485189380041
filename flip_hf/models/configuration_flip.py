"""`FlipConfig`: the tabular side (fields, feature space, ID model), the text side (any
AutoConfig encoder as ``text_config``), FLIP pretraining hyperparameters and the CTR head mode."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PretrainedConfig

from ..id_models import DEFAULT_EMBEDDING_DIM, DEFAULT_MLP_HIDDEN_SIZES
from .plm import TEXT_POOLINGS

try:  # transformers >= 5.2x: explicit sub-config spec (optional text side)
    from transformers.configuration_utils import SubConfigSpec

    _TEXT_SPEC: Any = SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True)
except ImportError:  # pragma: no cover - older 5.x
    _TEXT_SPEC = AutoConfig

CTR_MODES = ("joint", "id", "plm")
TEXT_MASKING = ("field", "token")
CONTRASTIVE_NORMS = ("layernorm", "l2", "layernorm+l2")
MTM_HEAD_INPUTS = ("attention", "id+attention")

PRETRAINING_PRESETS: dict[str, dict[str, Any]] = {
    "flip": {},
    "ctrl": {"use_mlm": False, "use_mtm": False},
    "ptab": {"use_mtm": False, "use_icl": False, "joint_reconstruction": False},
    "no_mlm": {"use_mlm": False},
    "no_mtm": {"use_mtm": False},
    "no_icl": {"use_icl": False},
    "token_masking": {"text_masking": "token"},
    "no_joint_reconstruction": {"joint_reconstruction": False},
    "mlm_only": {"use_mtm": False, "use_icl": False},
    "mtm_only": {"use_mlm": False, "use_icl": False},
}
"""Named pretraining variants as `FlipConfig` overrides: FLIP itself; the baselines of paper
Table II built from its parts — CTRL (instance-level contrastive alignment only; the ID model
serves) and PTab (masked language modelling on the rows' text only; the PLM serves); and the
ablations of Table VII (w/o MLM, w/o MTM, w/o ICL, w/o field-level masking, w/o joint
reconstruction; "w/o MLM & MTM" is ``ctrl``); and each reconstruction objective alone (``mlm_only``,
``mtm_only``, with joint reconstruction) for the objective-by-objective study."""


class FlipConfig(PretrainedConfig):
    r"""Configuration of `FlipForPretraining` and `FlipForCTR`.

    Tabular side:
        field_names (`list[str]`): the F fields, in order (as the tokenizer has them).
        feature_vocab_size (`int`): M, size of the global feature-id space (reserved ids included).
        id_model (`str`, defaults to `"dcnv2"`): a name from `flip_hf.id_models.list_id_models()`.
        id_embedding_dim (`int`, 32), id_mlp_hidden_sizes (`list[int]`, [300, 300, 128]),
        id_dropout (`float`, 0.0), id_model_kwargs (`dict`): the ID model's own hyperparameters.
    Text side:
        text_config (`PretrainedConfig` or `dict`): config of any AutoModel text encoder (BERT,
        RoBERTa, MiniLM...). None for an ID-only model (``mode="id"``).
    Pretraining (paper Section IV-C, Eq. 4-14):
        text_mask_ratio / tab_mask_ratio (0.15 / 0.15), nce_num_noise (K=25),
        mtm_projection_dim (width of the NCE output embeddings), contrastive_projection_dim (d=128),
        contrastive_tau (τ=0.7), use_mlm / use_mtm / use_icl, text_masking ("field" or "token"),
        token_mask_probability (0.15, for "token" masking), joint_reconstruction (bool).
        contrastive_norm: the "normalization layer" after the two ICL projections, which the paper
        leaves open. ``"layernorm"`` (the authors' projection head): ``|z|^2`` is about d = 128, so
        the logits ``z_text·z_tab/τ`` span hundreds and τ is not a cosine temperature;
        ``"l2"`` (CLIP; the default): ``z`` on the unit sphere, logits = cosine/τ in [-1/τ, 1/τ], the
        scale on which the paper's τ sweep {0.05 ... 1.0} reads naturally; ``"layernorm+l2"``: both.
        Chosen on the validation split of full MovieLens-100K (FLIP_ID after equal pretraining): with
        LayerNorm the contrastive loss saturates within half an epoch (0.12 for 64-row batches) and
        stops shaping the ID side; ``contrastive_norm="layernorm"`` is the authors' literal choice.
        tie_mlm_decoder (True): the MLM head's vocabulary projection is the text encoder's input
        embedding matrix, as in BERT (False: an untied copy, initialised from it).
        mtm_head_input: what the field MLPs ``g_ID^(f)`` of MTM read. ``"attention"`` (Eq. 8 taken
        literally): the cross-attention output ``u`` over the clean text, where ``v̂`` only forms the
        query, so little gradient reaches the ID model; ``"id+attention"`` (the authors' code): ``[v̂ ⊕ u]``.
    Text pooling (pretraining ICL and the PLM head): text_pooling ``"cls"`` (the paper's
        ``w_1``) or ``"mean"`` (mean over real tokens, the pooling of sentence encoders).
    Finetuning (paper Section IV-C):
        mode ("joint" = FLIP, "id" = FLIP_ID / plain ID model, "plm" = FLIP_PLM), alpha_init (0.5).
        The joint fusion weight is ``α = σ(a)`` (in [0, 1], Eq. 15); ``alpha_learning_rate`` (1e-2) is the
        learning rate of its logit ``a``, its own optimizer group: Adam moves ``a`` by about the learning
        rate per step, so at the ID rate (1e-3) one epoch of ~1,000 steps keeps α within about [0.28, 0.72];
        at 1e-2 it can reach either end (|a| ~ 10) within such an epoch. None: the Trainer's rate.
    """

    model_type = "flip"
    sub_configs_defaults = {"text_config": _TEXT_SPEC}

    field_names: list[str] | None = None
    feature_vocab_size: int | None = None
    id_model: str = "dcnv2"
    id_embedding_dim: int = DEFAULT_EMBEDDING_DIM
    id_mlp_hidden_sizes: list[int] | None = None
    id_dropout: float = 0.0
    id_model_kwargs: dict | None = None

    text_config: PretrainedConfig | dict | None = None

    text_mask_ratio: float = 0.15
    tab_mask_ratio: float = 0.15
    nce_num_noise: int = 25
    mtm_projection_dim: int = 128
    contrastive_projection_dim: int = 128
    contrastive_tau: float = 0.7
    use_mlm: bool = True
    use_mtm: bool = True
    use_icl: bool = True
    text_masking: str = "field"
    token_mask_probability: float = 0.15
    joint_reconstruction: bool = True
    contrastive_norm: str = "l2"
    tie_mlm_decoder: bool = True
    mtm_head_input: str = "attention"
    text_pooling: str = "cls"

    mode: str = "joint"
    alpha_init: float = 0.5
    alpha_learning_rate: float | None = 1e-2
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs: Any):
        if self.id_mlp_hidden_sizes is None:
            self.id_mlp_hidden_sizes = list(DEFAULT_MLP_HIDDEN_SIZES)
        self.id_mlp_hidden_sizes = [int(h) for h in self.id_mlp_hidden_sizes]
        if self.id_model_kwargs is None:
            self.id_model_kwargs = {}
        if self.field_names is not None:
            self.field_names = [str(f) for f in self.field_names]
        super().__post_init__(**kwargs)
        self.validate_flip()

    def validate_flip(self) -> None:
        """Check the FLIP hyperparameters; raise ValueError naming the bad one."""
        if self.mode not in CTR_MODES:
            raise ValueError(f"FlipConfig.mode must be one of {CTR_MODES}, got {self.mode!r}.")
        if self.text_masking not in TEXT_MASKING:
            raise ValueError(f"FlipConfig.text_masking must be one of {TEXT_MASKING}, got {self.text_masking!r}.")
        if self.contrastive_norm not in CONTRASTIVE_NORMS:
            raise ValueError(
                f"FlipConfig.contrastive_norm must be one of {CONTRASTIVE_NORMS}, got {self.contrastive_norm!r}."
            )
        if self.mtm_head_input not in MTM_HEAD_INPUTS:
            raise ValueError(
                f"FlipConfig.mtm_head_input must be one of {MTM_HEAD_INPUTS}, got {self.mtm_head_input!r}."
            )
        if self.alpha_learning_rate is not None and self.alpha_learning_rate <= 0:
            raise ValueError(f"FlipConfig.alpha_learning_rate must be > 0 or None, got {self.alpha_learning_rate}.")
        if self.text_pooling not in TEXT_POOLINGS:
            raise ValueError(f"FlipConfig.text_pooling must be one of {TEXT_POOLINGS}, got {self.text_pooling!r}.")
        for name in ("text_mask_ratio", "tab_mask_ratio", "token_mask_probability"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"FlipConfig.{name} must be in (0, 1], got {value}.")
        if self.contrastive_tau <= 0:
            raise ValueError(f"FlipConfig.contrastive_tau must be > 0, got {self.contrastive_tau}.")
        if self.nce_num_noise < 1:
            raise ValueError(f"FlipConfig.nce_num_noise must be >= 1, got {self.nce_num_noise}.")
        if not 0.0 <= self.alpha_init <= 1.0:
            raise ValueError(f"FlipConfig.alpha_init must be in [0, 1], got {self.alpha_init}.")
        if self.feature_vocab_size is not None and self.feature_vocab_size < 3:
            raise ValueError(f"FlipConfig.feature_vocab_size must be >= 3, got {self.feature_vocab_size}.")

    @property
    def num_fields(self) -> int:
        if not self.field_names:
            raise ValueError("FlipConfig.field_names is not set: build the config with FlipConfig.from_tokenizer().")
        return len(self.field_names)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, text_config: PretrainedConfig | dict | None = None, **kwargs: Any):
        """A config whose tabular side matches a `FlipTabularTokenizer`."""
        return cls(
            field_names=list(tokenizer.field_names),
            feature_vocab_size=int(tokenizer.feature_vocab_size),
            text_config=text_config,
            **kwargs,
        )

    def check_tokenizer(self, tokenizer: Any) -> None:
        """Raise ValueError when a tokenizer was fitted on another table than this model."""
        if list(tokenizer.field_names) != list(self.field_names or []):
            raise ValueError(
                f"Tokenizer/model mismatch: the tokenizer's fields are {list(tokenizer.field_names)}, "
                f"the model's are {self.field_names}."
            )
        if int(tokenizer.feature_vocab_size) != int(self.feature_vocab_size or -1):
            raise ValueError(
                f"Tokenizer/model mismatch: the tokenizer has {tokenizer.feature_vocab_size} feature ids, "
                f"the model {self.feature_vocab_size}."
            )
        if self.text_config is not None and self.mode != "id":
            text_vocab = getattr(self.text_config, "vocab_size", None)
            if text_vocab is not None and len(tokenizer.text_tokenizer) > text_vocab:
                raise ValueError(
                    f"Tokenizer/model mismatch: the text tokenizer has {len(tokenizer.text_tokenizer)} tokens, "
                    f"the text encoder's vocabulary {text_vocab}."
                )


__all__ = ["FlipConfig"]
