"""Multi-head attention on ``F.scaled_dot_product_attention`` and the mask helpers.

Shape legend used across the package:
    B batch, K beam, S source length, T target length, D model dim, H heads,
    Dh = D / H head dim, V vocabulary, F feature frames.

Mask convention everywhere: boolean, ``True`` = may attend. Masks are converted to the
kernel's form only at the ``scaled_dot_product_attention`` call, except the decoder's
self-attention mask during beam search, which all layers share: ``additive_mask`` converts it
once per step (the kernel's own conversion of a boolean mask costs more than the attention).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2s.nn.linear import Linear, fused_linear


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """``(B,)`` lengths -> ``(B, L)`` boolean mask, True on real positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def key_mask(mask: Tensor) -> Tensor:
    """``(B, L)`` key-padding mask -> ``(B, 1, 1, L)``, broadcastable over heads and queries."""
    return mask[:, None, None, :]


def additive_mask(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Boolean mask -> the same mask as ``0`` (may attend) / ``-inf`` (may not) in ``dtype``, added to the scores."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def kernel_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """The dtype ``MultiHeadAttention`` runs the attention kernel in for inputs of ``dtype`` on ``device``.

    bf16 on a CPU runs in fp32: the fused kernel is much slower in bf16 than in fp32 for these
    shapes, its backward in training (bench/train.py's bf16 row) and its forward for decoding's
    few queries per step (bench/decode.py's bf16 row), while the casts cost little.
    """
    return torch.float32 if dtype == torch.bfloat16 and device.type == "cpu" else dtype


def causal_mask(query_len: int, key_len: int, device: torch.device) -> Tensor:
    """``(Tq, Tk)`` mask where query i (the last ``query_len`` of ``key_len`` positions) sees keys <= i.

    With a cache the queries are the newest positions, so query i sits at absolute position
    ``key_len - query_len + i``: this "eliminates half of the attention board" (the future).
    """
    offset = key_len - query_len
    q = torch.arange(query_len, device=device)[:, None] + offset
    k = torch.arange(key_len, device=device)[None, :]
    return k <= q


class MultiHeadAttention(nn.Module):
    """Attention with one ``Wq, Wk, Wv`` per head (packed into ``q_proj``, ``k_proj``, ``v_proj``).

    Each head's value is the "value down" projection to ``Dh = D / H``; ``out_proj`` (``Wo``) is
    the "value up" projection that brings the concatenated heads back to ``D``. Projections that
    read the same input run as one matrix product over the stacked weights (``project_qkv``,
    ``project_kv``); the parameters stay three separate ``Linear`` layers.
    """

    def __init__(self, d_model: int, num_heads: int, *, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = d_model // num_heads
        self.dropout = dropout
        self.q_proj = Linear(d_model, d_model, bias=bias)  # Wq for all heads
        self.k_proj = Linear(d_model, d_model, bias=bias)  # Wk
        self.v_proj = Linear(d_model, d_model, bias=bias)  # Wv ("value down")
        self.out_proj = Linear(d_model, d_model, bias=bias)  # Wo ("value up")
        self.record_weights = False  # set by s2s.analysis to keep the attention board
        self.last_weights: Tensor | None = None
        # (H,) factor on each head's output before Wo (s2s.model.head_mask): 0 removes a head, None = all kept
        self.head_mask: Tensor | None = None

    def split_heads(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, L, Dh)

    def project_kv(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of ``x`` ``(B, L, D)`` -> two ``(B, H, L, Dh)``, in one matrix product."""
        k, v = fused_linear(x, (self.k_proj, self.v_proj))
        return self.split_heads(k), self.split_heads(v)

    def project_qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention's queries, keys and values of ``x (B, L, D)`` -> three ``(B, H, L, Dh)``, in one product."""
        q, k, v = fused_linear(x, (self.q_proj, self.k_proj, self.v_proj))
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def forward(
        self,
        query: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        group: int = 1,
    ) -> Tensor:
        """``query (B, Tq, D)`` against projected ``k, v (B / group, H, Tk, Dh)`` -> ``(B, Tq, D)``.

        ``mask`` is boolean, broadcastable to ``(B / group, H, Tq, Tk)``, True = may attend.
        ``group``: each key/value row serves that many consecutive query rows (the beams of one
        sentence share its cross-attention keys/values); their queries are stacked along the
        query axis, ``(B / group, H, group * Tq, Dh)``, which is the same attention, done once.
        """
        q = self.split_heads(self.q_proj(query))  # (B, H, Tq, Dh)
        return self.attend(q, k, v, mask=mask, is_causal=is_causal, group=group)

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, *, mask: Tensor | None = None, is_causal: bool = False, group: int = 1
    ) -> Tensor:
        """``forward`` for queries already projected, ``q (B, H, Tq, Dh)`` (``project_qkv``) -> ``(B, Tq, D)``."""
        b, h, tq, dh = q.shape
        if group > 1:
            if is_causal:
                raise ValueError("grouped queries are for cross-attention, which is not causal")
            q = q.view(b // group, group, h, tq, dh).transpose(1, 2).reshape(b // group, h, group * tq, dh)
        dropout = self.dropout if self.training else 0.0
        if self.record_weights:
            out = self.attend_with_weights(q, k, v, mask, is_causal)
        elif (dtype := kernel_dtype(q.dtype, q.device)) != q.dtype:
            with torch.autocast("cpu", enabled=False):  # autocast would cast the inputs back to bf16
                out = F.scaled_dot_product_attention(
                    q.to(dtype), k.to(dtype), v.to(dtype), attn_mask=mask, dropout_p=dropout, is_causal=is_causal
                ).to(q.dtype)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
        if group > 1:  # (B / group, H, group * Tq, Dh) -> (B, H, Tq, Dh)
            out = out.view(b // group, h, group, tq, dh).transpose(1, 2).reshape(b, h, tq, dh)
        if self.head_mask is not None:
            out = out * self.head_mask.to(out.dtype).view(1, h, 1, 1)  # (B, H, Tq, Dh)
        out = out.transpose(1, 2).reshape(b, tq, h * dh)  # (B, Tq, D)
        return self.out_proj(out)

    def attend_with_weights(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool) -> Tensor:
        """The same attention computed by hand, keeping ``softmax(QK^T/sqrt(Dh))`` in ``last_weights``."""
        k, v = k.to(q.dtype), v.to(q.dtype)  # a cache may hold them in the kernel dtype (kernel_dtype)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, Tq, Tk)
        if is_causal:
            causal = causal_mask(q.shape[-2], k.shape[-2], q.device)
            mask = causal if mask is None else mask & causal
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(dim=-1)
        self.last_weights = weights.detach()
        return weights @ v
