"""Feed-forward block and the encoder/decoder layers (residual + LayerNorm, pre-LN by default)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import Tensor, nn

from s2s.nn.attention import MultiHeadAttention, key_mask
from s2s.nn.dropout import Dropout
from s2s.nn.layer_cache import LayerKeysValues, StepColumns
from s2s.nn.linear import Linear

# ReLU runs in place: it writes over fc1's output instead of a fresh (tokens, ffn_dim) tensor, whose first writes
# page-fault on a CPU (bench/train.py times the training step); its backward needs only its own output.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "gelu": nn.GELU,
    "swish": nn.SiLU,
}


class FeedForward(nn.Module):
    """The per-position MLP: ``D -> ffn_dim (4·D by default) -> D``, shared by all tokens."""

    def __init__(self, d_model: int, ffn_dim: int, *, dropout: float, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.fc1 = Linear(d_model, ffn_dim)
        self.activation = ACTIVATIONS[activation]()
        self.dropout = Dropout(dropout)
        self.fc2 = Linear(ffn_dim, d_model)

    def forward(self, x: Tensor) -> Tensor:
        """``x (..., D)`` -> ``(..., D)``.

        The positions are flattened to rows first. ``fc1`` of a 3-D input returns a view of its 2-D
        product, and an in-place ReLU on a view makes autograd copy the whole gradient through a
        zero-filled buffer in the backward; on the 2-D product itself it costs nothing.
        """
        h = self.activation(self.fc1(x.reshape(-1, x.shape[-1])))  # (rows, ffn_dim)
        return self.fc2(self.dropout(h)).view(x.shape)


class Residual(nn.Module):
    """``x + sublayer(x)`` with LayerNorm before (pre-LN) or after (post-LN) the sum.

    Pre-LN, ``x + f(LN(x))``, trains stably without a long warm-up; post-LN,
    ``LN(x + f(x))``, is the original Transformer and what Marian/OPUS-MT models use.
    """

    def __init__(self, d_model: int, *, dropout: float, norm_first: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, sublayer) -> Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    """Bidirectional self-attention (padding mask only) then the MLP."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ffn_dim: int,
        *,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        activation: str,
        norm_first: bool,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=attention_dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout=activation_dropout, activation=activation)
        self.attn_block = Residual(d_model, dropout=dropout, norm_first=norm_first)
        self.ffn_block = Residual(d_model, dropout=dropout, norm_first=norm_first)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (B, S, D)``, ``mask (B, S)`` True on real tokens -> ``(B, S, D)``."""
        attn_mask = key_mask(mask)  # (B, 1, 1, S): every query may see every real key

        def attend(h: Tensor) -> Tensor:
            q, k, v = self.self_attn.project_qkv(h)
            return self.self_attn.attend(q, k, v, mask=attn_mask)

        x = self.attn_block(x, attend)
        return self.ffn_block(x, self.ffn)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder memory, then the MLP."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ffn_dim: int,
        *,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        activation: str,
        norm_first: bool,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=attention_dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=attention_dropout)
        self.ffn = FeedForward(d_model, ffn_dim, dropout=activation_dropout, activation=activation)
        self.self_block = Residual(d_model, dropout=dropout, norm_first=norm_first)
        self.cross_block = Residual(d_model, dropout=dropout, norm_first=norm_first)
        self.ffn_block = Residual(d_model, dropout=dropout, norm_first=norm_first)

    def forward(
        self, x: Tensor, cache: LayerKeysValues, cross_mask: Tensor, step: StepColumns | None = None, beams: int = 1
    ) -> Tensor:
        """``x (B*K, Tn, D)`` new target positions -> ``(B*K, Tn, D)``.

        ``cross_mask (B, 1, 1, S)``: the source positions each sentence's queries may see, boolean or
        additive (``attention.additive_mask``). ``beams`` (K) rows of ``x`` share one sentence's
        cross-attention keys/values and ``cross_mask`` row.

        ``step`` None (training): ``x`` is the whole prefix, attention is causal within it.
        With ``step`` (decoding, from ``KVCache.begin_step``): keys/values of ``x`` are written into
        ``cache`` where it says, and the new queries see the cached columns its mask allows:
        their own history up to and including themselves.
        """

        def self_attend(h: Tensor) -> Tensor:
            q, k, v = self.self_attn.project_qkv(h)  # (B*K, H, Tn, Dh)
            if step is None:
                return self.self_attn.attend(q, k, v, is_causal=h.shape[1] > 1)
            k, v = cache.append(k, v, step)  # (B, H, width, Dh): every column of the sentence
            return self.self_attn.attend(q, k, v, mask=step.mask, group=beams)

        def cross_attend(h: Tensor) -> Tensor:
            return self.cross_attn(h, cache.cross_k, cache.cross_v, mask=cross_mask, group=beams)

        x = self.self_block(x, self_attend)
        x = self.cross_block(x, cross_attend)
        return self.ffn_block(x, self.ffn)
