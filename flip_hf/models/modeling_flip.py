"""FLIP models: `FlipForPretraining` (modality alignment) and `FlipForCTR` (finetuning / serving).

Both hold the two encoders under the same names, ``id_model`` (a model of the ID zoo) and
``text_model`` (any AutoModel text encoder), so a `FlipForCTR` loads the aligned encoders
straight from a `FlipForPretraining` checkpoint; the pretraining heads are dropped silently.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..id_models import IDModelBase, build_id_model
from .auto_classes import register_auto_model
from .configuration_flip import FlipConfig
from .model_files import model_folder_problems
from .plm import load_text_encoder, pool_text, strip_pooler, truncate_layers
from .prediction import predict_in_batches
from .pretraining_heads import ContrastiveHead, MaskedLanguageHead, MaskedTabularHead


# ---------------------------------------------------------------------------------------- outputs
@dataclass
class FlipCTROutput(ModelOutput):
    """Output of `FlipForCTR`.

    loss: BCE (joint mode: the sum of the three BCE terms of paper Eq. 17).
    logits: (B,) click logit; sigmoid gives the click probability.
    id_logits / plm_logits: (B,) the single-side logits (joint mode).
    alpha: the learnt weight of the ID side, in [0, 1] (joint mode).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    id_logits: torch.FloatTensor | None = None
    plm_logits: torch.FloatTensor | None = None
    alpha: torch.FloatTensor | None = None


@dataclass
class FlipPretrainingOutput(ModelOutput):
    """Output of `FlipForPretraining`: the total loss and each objective's part (0 when switched off)."""

    loss: torch.FloatTensor | None = None
    mlm_loss: torch.FloatTensor | None = None
    mtm_loss: torch.FloatTensor | None = None
    icl_loss: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    tab_embeds: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------- base
def _build_id_model(config: FlipConfig) -> IDModelBase:
    """The configured ID model; the shared hyperparameters go to the models that take them."""
    if config.feature_vocab_size is None or not config.field_names:
        raise ValueError(
            "FlipConfig has no tabular side (field_names / feature_vocab_size): "
            "build it with FlipConfig.from_tokenizer(tokenizer)."
        )
    shared = {
        "embedding_dim": config.id_embedding_dim,
        "mlp_hidden_sizes": tuple(config.id_mlp_hidden_sizes),
        "dropout": config.id_dropout,
    }
    return build_id_model(
        config.id_model, len(config.field_names), config.feature_vocab_size, shared=shared, **config.id_model_kwargs
    )


class FlipPreTrainedModel(PreTrainedModel):
    """Weight init, config class and the shared encoder plumbing of the FLIP models."""

    config_class = FlipConfig
    config: FlipConfig
    # every loss is a mean over the local batch: the Trainer divides by the accumulation steps and
    # DDP averages over processes, which gives the global-batch mean (no num_items_in_batch)
    accepts_loss_kwargs = False
    base_model_prefix = "flip"
    main_input_name = "feature_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """HF's scheme (normal(0, ``initializer_range``) for Linear and Embedding, zero biases) for
        every new module, the ID model's included (its standalone ``init_weights()`` is not used
        inside FLIP; the ID-model benchmark was measured with this scheme); plus α and the MTM head."""
        super()._init_weights(module)
        if isinstance(module, FlipForCTR) and module.config.mode == "joint":
            a = min(max(module.config.alpha_init, 1e-4), 1 - 1e-4)
            init.constant_(module.alpha_logit, math.log(a / (1 - a)))
        elif isinstance(module, MaskedTabularHead):
            module.reset_parameters()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any):
        """`PreTrainedModel.from_pretrained`; a local folder is checked first, and a foreign, missing or
        damaged ``config.json`` or weights file raises an OSError that names the file and the problem."""
        folder = str(pretrained_model_name_or_path)
        if kwargs.get("subfolder"):
            folder = os.path.join(folder, kwargs["subfolder"])
        if os.path.isdir(folder):
            problems = model_folder_problems(folder)
            if problems:
                raise OSError(f"Cannot load a FLIP model from {folder}: " + "; ".join(problems) + ".")
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    def check_tokenizer(self, tokenizer: Any) -> None:
        """`FlipConfig.check_tokenizer`, naming the files the tokenizer and the model were loaded from."""
        if not hasattr(tokenizer, "field_names") or not hasattr(tokenizer, "feature_vocab_size"):
            raise TypeError(
                f"Expected the model's FlipTabularTokenizer, got a {type(tokenizer).__name__} "
                "(load it with FlipTabularTokenizer.from_pretrained(checkpoint_folder))."
            )
        try:
            self.config.check_tokenizer(tokenizer)
        except ValueError as err:
            sources = []
            if getattr(tokenizer, "loaded_from", None):
                sources.append(f"tokenizer file {tokenizer.loaded_from}")
            if self.name_or_path and os.path.isdir(self.name_or_path):
                sources.append(f"model config {os.path.join(self.name_or_path, 'config.json')}")
            if not sources:
                raise
            raise ValueError(f"{err} ({'; '.join(sources)})") from None

    # -- encoders ----------------------------------------------------------------------------
    def _init_encoders(self, config: FlipConfig, text_model: nn.Module | None, need_id: bool, need_text: bool):
        self.id_model = _build_id_model(config) if need_id else None
        self.text_model = None
        if need_text:
            if text_model is None:
                if config.text_config is None:
                    raise ValueError(f"mode={config.mode!r} needs a text encoder but FlipConfig.text_config is None.")
                text_model = AutoModel.from_config(config.text_config)
            self.text_model = strip_pooler(text_model)
            config.text_config = self.text_model.config

    def encode_text(self, input_ids, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """Last-layer hidden states (B, L, D_text) of the text encoder."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.text_model(**kwargs).last_hidden_state

    def text_vector(self, states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The row's text representation: ``w_1`` ([CLS], the paper) or the token mean (``text_pooling``)."""
        return pool_text(states, attention_mask, self.config.text_pooling)

    @classmethod
    def from_text_pretrained(
        cls,
        plm_path: str | os.PathLike | None = None,
        tokenizer: Any = None,
        **config_overrides: Any,
    ):
        """Build the model around a pretrained text encoder (default: the packaged MiniLM).

        The encoder's weights are kept as loaded; the ID model and the new heads are initialised.
        ``tokenizer`` (a `FlipTabularTokenizer`) supplies the tabular side; keyword arguments
        override `FlipConfig` fields (``id_model="deepfm"``, ``contrastive_tau=0.1``, ...).
        """
        if tokenizer is None:
            raise ValueError("from_text_pretrained needs the FlipTabularTokenizer of the data (tokenizer=...).")
        text_model = load_text_encoder(plm_path)
        # a copy: the model's own init must not touch the loaded encoder's attention settings
        config = FlipConfig.from_tokenizer(tokenizer, text_config=text_model.config.to_dict(), **config_overrides)
        config.check_tokenizer(tokenizer)
        return cls(config, text_model=text_model)


# ---------------------------------------------------------------------------------------- CTR
class FlipForCTR(FlipPreTrainedModel):
    """CTR prediction head(s) over the FLIP encoders (paper Section IV-D).

    ``config.mode``:
      * ``"joint"`` (FLIP): ``σ(α·Linear_ID(v) + (1-α)·Linear_PLM(w_1))``, α = σ(a) ∈ [0, 1] learnt;
        loss = BCE(joint) + BCE(ID) + BCE(PLM).
      * ``"id"`` (FLIP_ID, or the plain ID baseline when not pretrained): ID model + Linear_ID.
        Holds no text encoder: it saves, loads and serves without a language model.
      * ``"plm"`` (FLIP_PLM): text encoder + Linear_PLM on the [CLS] state.

    ``FlipForCTR.from_pretrained(pretraining_checkpoint, mode="id")`` picks the mode at load time.
    """

    _keys_to_ignore_on_load_unexpected = [r"^mlm_head\.", r"^mtm_head\.", r"^icl_head\.", r"^feature_counts$"]

    def __init__(self, config: FlipConfig, text_model: nn.Module | None = None):
        super().__init__(config)
        mode = config.mode
        self._init_encoders(config, text_model, need_id=mode in ("id", "joint"), need_text=mode in ("plm", "joint"))
        self.id_head = nn.Linear(self.id_model.output_dim, 1) if self.id_model is not None else None
        self.plm_head = nn.Linear(self.text_model.config.hidden_size, 1) if self.text_model is not None else None
        if mode == "joint":
            self.alpha_logit = nn.Parameter(torch.zeros(()))
        ignore = list(self._keys_to_ignore_on_load_unexpected)
        if self.text_model is None:
            ignore.append(r"^text_model\.")
        if self.id_model is None:
            ignore.append(r"^id_model\.")
        self._keys_to_ignore_on_load_unexpected = ignore
        if "FlipForPretraining" in (config.architectures or []):
            # finetuning starts from a pretraining checkpoint: the CTR heads are new by design
            self._keys_to_ignore_on_load_missing = [r"^id_head\.", r"^plm_head\.", r"^alpha_logit$"]
        self.post_init()

    @property
    def alpha(self) -> torch.Tensor | None:
        return torch.sigmoid(self.alpha_logit) if self.config.mode == "joint" else None

    def forward(
        self,
        feature_ids: torch.LongTensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> FlipCTROutput:
        mode = self.config.mode
        id_logits = plm_logits = alpha = None
        if self.id_model is not None:
            if feature_ids is None:
                raise ValueError(f"mode={mode!r} needs feature_ids (the tabular view).")
            id_logits = self.id_head(self.id_model(feature_ids)).squeeze(-1)
        if self.text_model is not None:
            if input_ids is None:
                raise ValueError(f"mode={mode!r} needs input_ids (the text view).")
            states = self.encode_text(input_ids, attention_mask, token_type_ids)
            plm_logits = self.plm_head(self.text_vector(states, attention_mask)).squeeze(-1)
        if mode == "joint":
            alpha = self.alpha
            logits = alpha * id_logits + (1 - alpha) * plm_logits
        else:
            logits = id_logits if mode == "id" else plm_logits
        loss = None
        if labels is not None:
            target = labels.to(logits.dtype).view(-1)
            loss = F.binary_cross_entropy_with_logits(logits, target)
            if mode == "joint":
                loss = (
                    loss
                    + F.binary_cross_entropy_with_logits(id_logits, target)
                    + F.binary_cross_entropy_with_logits(plm_logits, target)
                )
        if mode != "joint":
            id_logits = plm_logits = None
        else:
            alpha = alpha.expand_as(logits)  # per row, so Trainer can concatenate eval batches
        return FlipCTROutput(loss=loss, logits=logits, id_logits=id_logits, plm_logits=plm_logits, alpha=alpha)

    @torch.no_grad()
    def predict_proba(self, rows: Any, tokenizer: Any, batch_size: int = 1024) -> torch.Tensor:
        """Click probabilities (N,) for raw rows (dict, list of dicts, DataFrame), batched, no grad.

        Unseen values map to their field's unknown id and keep their text (``unseen_text="value"``);
        missing values (None, NaN, NA, empty text, a key absent from some rows) are the unknown id and
        the text "unknown". Keys that are not fields are ignored; a field absent from every row is a
        KeyError naming it. Text is cut to the tokenizer's ``max_length`` (and to the text encoder's
        positions). A ValueError is raised rather than returning probabilities that are not finite.
        """
        self.check_tokenizer(tokenizer)
        columns = tokenizer.field_columns(rows)
        n = len(columns[tokenizer.field_names[0]])
        need_text = self.text_model is not None
        max_length = tokenizer.max_length
        positions = getattr(self.text_model.config, "max_position_embeddings", None) if need_text else None
        if positions:
            max_length = min(max_length, int(positions))

        def batch_inputs(start: int, end: int) -> dict[str, torch.Tensor]:
            chunk = {k: v[start:end] for k, v in columns.items()}
            enc = tokenizer(chunk, text=need_text, padding=True, max_length=max_length, return_tensors="pt")
            enc.pop("token_field_ids", None)
            return dict(enc)

        return predict_in_batches(self, n, batch_inputs, batch_size)


# ---------------------------------------------------------------------------------------- pretraining
class FlipForPretraining(FlipPreTrainedModel):
    """FLIP modality-alignment pretraining (paper Section IV-C): MLM with tabular help (Eq. 5-6), MTM
    with text help and NCE (Eq. 7-10), and instance-level contrastive learning (Eq. 11-13), with
    the ablation switches of Table VII.

    Inputs come from `DataCollatorForFlipPretraining`: the clean views (``input_ids``,
    ``attention_mask``, ``feature_ids``), the corrupted views (``masked_input_ids``,
    ``masked_feature_ids``), the targets (``mlm_labels``: original token at masked positions, -100
    elsewhere; ``mtm_mask``: B x F bool of masked fields) and the NCE noise ids (``nce_noise``:
    B x k x K, drawn from the training-set feature frequencies for the k masked fields of a row).
    """

    _keys_to_ignore_on_load_unexpected = [r"^feature_counts$"]  # noise counts lived here before 0.2

    def __init__(self, config: FlipConfig, text_model: nn.Module | None = None):
        super().__init__(config)
        self._init_encoders(config, text_model, need_id=True, need_text=True)
        d_text = self.text_model.config.hidden_size
        d_tab = self.id_model.output_dim
        joint = config.joint_reconstruction
        self.mlm_head = None
        if config.use_mlm:
            self.mlm_head = MaskedLanguageHead(
                d_text, d_tab if joint else 0, self.text_model.config, tied=config.tie_mlm_decoder
            )
        self.mtm_head = None
        if config.use_mtm:
            self.mtm_head = MaskedTabularHead(
                d_tab=d_tab,
                d_text=d_text,
                num_fields=len(config.field_names),
                feature_vocab_size=config.feature_vocab_size,
                projection_dim=config.mtm_projection_dim,
                cross_attention=joint,
                with_id_input=config.mtm_head_input == "id+attention",
            )
        self.icl_head = None
        if config.use_icl:
            self.icl_head = ContrastiveHead(d_text, d_tab, config.contrastive_projection_dim, config.contrastive_norm)
        self.post_init()

    @classmethod
    def from_text_pretrained(cls, plm_path=None, tokenizer=None, **config_overrides):
        model = super().from_text_pretrained(plm_path, tokenizer, **config_overrides)
        if model.mlm_head is not None and model.mlm_head.decoder is not None:
            with torch.no_grad():  # an untied decoder starts as a copy of the pretrained input embeddings
                model.mlm_head.decoder.weight.copy_(model.text_model.get_input_embeddings().weight)
        return model

    def _encode_tab(self, feature_ids: torch.Tensor, masked_feature_ids: torch.Tensor | None, need_clean: bool):
        """``(v, v̂)``: one ID-model call on [clean ; masked] rows, unless the model normalises over
        the batch (BatchNorm), where one call would mix the two views' statistics."""
        need_masked = self.config.use_mtm
        if need_clean and need_masked:
            if self.id_model.uses_batch_statistics:
                return self.id_model(feature_ids), self.id_model(masked_feature_ids)
            v, v_hat = self.id_model(torch.cat([feature_ids, masked_feature_ids])).chunk(2)
            return v, v_hat
        if need_clean:
            return self.id_model(feature_ids), None
        return None, (self.id_model(masked_feature_ids) if need_masked else None)

    def _encode_text_views(self, input_ids, masked_input_ids, attention_mask, token_type_ids, need_clean: bool):
        """``(w, ŵ)``: one text-encoder call over [clean ; masked] rows when both are needed."""
        need_masked = self.config.use_mlm
        if need_clean and need_masked:
            both = self.encode_text(
                torch.cat([input_ids, masked_input_ids]),
                torch.cat([attention_mask, attention_mask]),
                None if token_type_ids is None else torch.cat([token_type_ids, token_type_ids]),
            )
            w, w_hat = both.chunk(2)
            return w, w_hat
        if need_clean:
            return self.encode_text(input_ids, attention_mask, token_type_ids), None
        return None, (self.encode_text(masked_input_ids, attention_mask, token_type_ids) if need_masked else None)

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor,
        feature_ids: torch.LongTensor,
        masked_input_ids: torch.LongTensor | None = None,
        masked_feature_ids: torch.LongTensor | None = None,
        mlm_labels: torch.LongTensor | None = None,
        mtm_mask: torch.BoolTensor | None = None,
        nce_noise: torch.LongTensor | None = None,
        token_type_ids: torch.LongTensor | None = None,
    ) -> FlipPretrainingOutput:
        cfg = self.config
        zero = feature_ids.new_zeros((), dtype=torch.float32)
        if cfg.use_mlm and (masked_input_ids is None or mlm_labels is None):
            raise ValueError("use_mlm needs masked_input_ids and mlm_labels (use DataCollatorForFlipPretraining).")
        if cfg.use_mtm and (masked_feature_ids is None or mtm_mask is None or nce_noise is None):
            raise ValueError(
                "use_mtm needs masked_feature_ids, mtm_mask and nce_noise (use DataCollatorForFlipPretraining)."
            )
        need_clean_text = cfg.use_icl or (cfg.use_mtm and cfg.joint_reconstruction)
        w, w_hat = self._encode_text_views(input_ids, masked_input_ids, attention_mask, token_type_ids, need_clean_text)
        need_clean_tab = cfg.use_icl or (cfg.use_mlm and cfg.joint_reconstruction)
        v, v_hat = self._encode_tab(feature_ids, masked_feature_ids, need_clean_tab)

        mlm_loss = mtm_loss = icl_loss = zero
        if cfg.use_mlm:
            embeddings = self.text_model.get_input_embeddings().weight if cfg.tie_mlm_decoder else None
            mlm_loss = self.mlm_head(w_hat, v, mlm_labels, embeddings)
        if cfg.use_mtm:
            targets = feature_ids[mtm_mask]
            noise = nce_noise.reshape(targets.shape[0], -1)  # the masked fields of each row, in field order
            mtm_loss = self.mtm_head(v_hat, w, attention_mask, mtm_mask, targets, noise)
        z_text = z_tab = None
        if cfg.use_icl:
            z_text, z_tab = self.icl_head(self.text_vector(w, attention_mask), v)
            icl_loss = self.icl_head.loss(z_text, z_tab, cfg.contrastive_tau)
        return FlipPretrainingOutput(
            loss=mlm_loss + mtm_loss + icl_loss,
            mlm_loss=mlm_loss,
            mtm_loss=mtm_loss,
            icl_loss=icl_loss,
            text_embeds=z_text,
            tab_embeds=z_tab,
        )


def truncate_text_layers(model: FlipPreTrainedModel, num_layers: int) -> None:
    """Keep only the first ``num_layers`` layers of a FLIP model's text encoder (CPU profiles)."""
    truncate_layers(model.text_model, num_layers)
    model.config.text_config.num_hidden_layers = num_layers


def register_auto_classes() -> None:
    """Register FLIP with the Auto classes: ``AutoConfig`` and ``AutoModel`` (-> `FlipForCTR`)."""
    register_auto_model(FlipConfig, FlipForCTR)


__all__ = [
    "FlipForCTR",
    "FlipForPretraining",
    "FlipPreTrainedModel",
    "FlipCTROutput",
    "FlipPretrainingOutput",
]
