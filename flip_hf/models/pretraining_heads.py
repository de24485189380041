"""The three FLIP pretraining heads (paper Section IV-C): MLM with tabular help (Eq. 5-6), MTM with
text help and noise contrastive estimation (Eq. 7-10), and instance-level contrastive learning, a
symmetric InfoNCE (Eq. 11-13)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.activations import get_activation

from .distributed import gather_rows


def mean_of_row_means(values: torch.Tensor, rows: torch.LongTensor, num_rows: int) -> torch.Tensor:
    """Mean over rows of the per-row mean of ``values`` (``rows`` gives each value's row; rows
    without values are skipped): ``1/B sum_i 1/|I_i| sum_{l in I_i} loss_l`` of Eq. 6, 10 and 14."""
    sums = values.new_zeros(num_rows).index_add_(0, rows, values)
    counts = values.new_zeros(num_rows).index_add_(0, rows, torch.ones_like(values))
    present = counts > 0
    if not bool(present.any()):
        return values.sum() * 0.0
    return (sums[present] / counts[present]).mean()


class MaskedLanguageHead(nn.Module):
    """``q_l = g_PLM([ŵ_l ⊕ v])`` (Eq. 5): a BERT-style two-layer LM head, run ONLY at masked positions.

    With ``d_tab == 0`` (ablation "w/o joint reconstruction") it sees ``ŵ_l`` alone. With
    ``tied=True`` the vocabulary projection is the text encoder's input embedding matrix, passed
    to `forward` (BERT's tying); otherwise the head owns a ``decoder`` of its own.
    """

    def __init__(self, d_text: int, d_tab: int, text_config, tied: bool = True):
        super().__init__()
        self.d_tab = d_tab
        self.dense = nn.Linear(d_text + d_tab, d_text)
        self.act = get_activation(getattr(text_config, "hidden_act", "gelu") or "gelu")
        self.norm = nn.LayerNorm(d_text, eps=getattr(text_config, "layer_norm_eps", 1e-12))
        self.decoder = None if tied else nn.Linear(d_text, text_config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(text_config.vocab_size))

    def forward(
        self,
        w_hat: torch.Tensor,
        v: torch.Tensor | None,
        labels: torch.LongTensor,
        input_embeddings: torch.Tensor | None = None,
    ) -> torch.Tensor:
        rows, cols = (labels != -100).nonzero(as_tuple=True)
        states = w_hat[rows, cols]  # (N, D_text): masked positions only
        if self.d_tab:
            states = torch.cat([states, v[rows].to(states.dtype)], dim=-1)
        hidden = self.norm(self.act(self.dense(states)))
        if self.decoder is not None:
            logits = self.decoder(hidden) + self.bias.to(hidden.dtype)
        elif input_embeddings is not None:
            logits = F.linear(hidden, input_embeddings.to(hidden.dtype), self.bias.to(hidden.dtype))
        else:
            raise ValueError("A tied MLM head needs the text encoder's input embeddings.")
        token_loss = F.cross_entropy(logits.float(), labels[rows, cols], reduction="none")
        return mean_of_row_means(token_loss, rows, labels.shape[0])


class MaskedTabularHead(nn.Module):
    """MTM: cross-attention ``u = softmax(v̂ Q wᵀ/√D_text) w`` over the unmasked text states
    (padding excluded), a field-specific two-layer MLP ``g_ID^(f)``, and NCE scores
    ``s_j = h·E_out[j] + b[j]`` computed only for the target and the K noise ids.

    With ``cross_attention=False`` (ablation "w/o joint reconstruction") ``g_ID^(f)`` reads ``v̂``; with
    ``with_id_input=True`` (``mtm_head_input="id+attention"``) it reads ``[v̂ ⊕ u]``, so the masked ID
    representation feeds the prediction itself, not only the attention query.
    """

    def __init__(
        self,
        d_tab: int,
        d_text: int,
        num_fields: int,
        feature_vocab_size: int,
        projection_dim: int,
        cross_attention: bool,
        with_id_input: bool = False,
    ):
        super().__init__()
        self.cross_attention = cross_attention
        self.with_id_input = with_id_input and cross_attention
        self.d_text = d_text
        d_in = (d_text + (d_tab if self.with_id_input else 0)) if cross_attention else d_tab
        self.query = nn.Parameter(torch.empty(d_tab, d_text)) if cross_attention else None
        self.field_w1 = nn.Parameter(torch.empty(num_fields, d_in, projection_dim))
        self.field_b1 = nn.Parameter(torch.empty(num_fields, projection_dim))
        self.field_w2 = nn.Parameter(torch.empty(num_fields, projection_dim, projection_dim))
        self.field_b2 = nn.Parameter(torch.empty(num_fields, projection_dim))
        self.output_embeddings = nn.Parameter(torch.empty(feature_vocab_size, projection_dim))
        self.output_bias = nn.Parameter(torch.empty(feature_vocab_size))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        if self.query is not None:
            init.normal_(self.query, std=1.0 / math.sqrt(self.query.shape[0]))
        init.normal_(self.field_w1, std=1.0 / math.sqrt(self.field_w1.shape[1]))
        init.normal_(self.field_w2, std=1.0 / math.sqrt(self.field_w2.shape[1]))
        init.zeros_(self.field_b1)
        init.zeros_(self.field_b2)
        init.normal_(self.output_embeddings, std=1.0 / math.sqrt(self.output_embeddings.shape[1]))
        init.zeros_(self.output_bias)

    def attend(self, v_hat: torch.Tensor, w: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """u (B, D_text): the masked tabular representation attending over the text tokens."""
        q = v_hat.to(w.dtype) @ self.query.to(w.dtype)  # (B, D_text)
        scores = torch.einsum("bd,bld->bl", q, w) / math.sqrt(self.d_text)
        scores = scores.float().masked_fill(attention_mask == 0, torch.finfo(torch.float32).min)
        return torch.einsum("bl,bld->bd", scores.softmax(-1).to(w.dtype), w)

    def field_projection(self, x: torch.Tensor) -> torch.Tensor:
        """All fields' ``g_ID^(f)(x)`` at once: (B, d_in) -> (B, F, projection_dim)."""
        h = torch.relu(torch.einsum("bi,fih->bfh", x, self.field_w1.to(x.dtype)) + self.field_b1.to(x.dtype))
        return torch.einsum("bfh,fhk->bfk", h, self.field_w2.to(x.dtype)) + self.field_b2.to(x.dtype)

    def forward(
        self,
        v_hat: torch.Tensor,
        w: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        mtm_mask: torch.BoolTensor,
        targets: torch.LongTensor,
        noise: torch.LongTensor,
    ) -> torch.Tensor:
        x = v_hat
        if self.cross_attention:
            u = self.attend(v_hat, w, attention_mask)
            x = torch.cat([v_hat.to(u.dtype), u], dim=-1) if self.with_id_input else u
        h = self.field_projection(x)[mtm_mask].float()  # (N, P): one row per masked (row, field)
        candidates = torch.cat([targets[:, None], noise], dim=1)  # (N, 1 + K)
        scores = (
            torch.einsum("np,nkp->nk", h, self.output_embeddings[candidates].float()) + self.output_bias[candidates]
        )
        loss = F.softplus(-scores[:, 0]) + F.softplus(scores[:, 1:]).sum(-1)  # -log σ(s+) - Σ log(1-σ(s-))
        rows = mtm_mask.nonzero(as_tuple=True)[0]
        return mean_of_row_means(loss, rows, mtm_mask.shape[0])


class ContrastiveHead(nn.Module):
    """ICL (Eq. 11-13): ``z_text = norm(Linear(w_1))``, ``z_tab = norm(Linear(v))`` (d = 128),
    similarity = dot product / τ, and a symmetric InfoNCE over in-batch negatives — every
    process's rows when run distributed, with gradients through all of them.

    ``norm``: ``"layernorm"`` (the authors' projection head; ``|z|^2`` ≈ d, so logits span
    hundreds), ``"l2"`` (unit vectors: logits are cosines / τ, as in CLIP) or ``"layernorm+l2"``.
    """

    def __init__(self, d_text: int, d_tab: int, projection_dim: int, norm: str):
        super().__init__()
        self.norm = norm
        self.text_projection = nn.Linear(d_text, projection_dim)
        self.tab_projection = nn.Linear(d_tab, projection_dim)
        use_layernorm = norm in ("layernorm", "layernorm+l2")
        self.text_norm = nn.LayerNorm(projection_dim) if use_layernorm else None
        self.tab_norm = nn.LayerNorm(projection_dim) if use_layernorm else None

    def _normalise(self, z: torch.Tensor, layer_norm: nn.LayerNorm | None) -> torch.Tensor:
        if layer_norm is not None:
            z = layer_norm(z)
        z = z.float()
        return F.normalize(z, dim=-1) if self.norm in ("l2", "layernorm+l2") else z

    def forward(self, text_vector: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_text = self._normalise(self.text_projection(text_vector), self.text_norm)
        z_tab = self._normalise(self.tab_projection(v.to(self.tab_projection.weight.dtype)), self.tab_norm)
        return z_text, z_tab

    @staticmethod
    def loss(z_text: torch.Tensor, z_tab: torch.Tensor, tau: float) -> torch.Tensor:
        """Mean of text->tab and tab->text InfoNCE; negatives = every process's rows."""
        all_text, offset = gather_rows(z_text)
        all_tab, _ = gather_rows(z_tab)
        labels = torch.arange(z_text.shape[0], device=z_text.device) + offset
        text_to_tab = F.cross_entropy(z_text @ all_tab.T / tau, labels)
        tab_to_text = F.cross_entropy(z_tab @ all_text.T / tau, labels)
        return (text_to_tab + tab_to_text) / 2
