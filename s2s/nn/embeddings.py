"""Token embedding ``We`` and position encodings (sinusoidal or learned)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from s2s.nn.dropout import Dropout


def sinusoid_table(num_positions: int, dim: int, *, whisper: bool = False) -> Tensor:
    """``(P, D)`` table: sines in the first half of the columns, cosines in the second.

    Column ``i`` of each half has frequency ``10000^(-2i/D)``; this is the layout of
    fairseq and Marian (the original paper interleaves sin/cos, which is a permutation).
    Whisper's encoder spreads the same range one column differently, ``10000^(-i/(D/2 - 1))``,
    so that its last column's frequency is exactly ``1/10000``.
    """
    half = dim // 2
    rate = 1 / (half - 1) if whisper else 2 / dim
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) * rate)  # (D/2,)
    angles = torch.arange(num_positions, dtype=torch.float64)[:, None] * freqs[None, :]  # (P, D/2)
    table = torch.zeros(num_positions, dim, dtype=torch.float64)
    table[:, :half] = torch.sin(angles)
    table[:, half : 2 * half] = torch.cos(angles)
    return table.float()


class PositionEncoding(nn.Module):
    """Position information: a learned ``(max_positions, D)`` table, or fixed sinusoids (``kind`` "sinusoid"
    as in fairseq and Marian, "whisper" as in Whisper's audio encoder)."""

    def __init__(self, dim: int, max_positions: int, *, kind: str) -> None:
        super().__init__()
        self.max_positions = max_positions
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_positions, dim) * dim**-0.5)
        else:
            table = sinusoid_table(max_positions, dim, whisper=kind == "whisper")
            self.register_buffer("table", table, persistent=False)

    def forward(self, length: int, start: int = 0) -> Tensor:
        """Positions ``start .. start+length-1`` -> ``(length, D)``."""
        if start + length > self.max_positions:
            raise ValueError(
                f"sequence of {start + length} positions exceeds the model's max_positions={self.max_positions}"
            )
        return self.table[start : start + length]


class Embedding(nn.Module):
    """``We`` lookup, optionally scaled by ``sqrt(D)``, plus positions and dropout."""

    def __init__(
        self,
        vocab_size: int,
        dim: int,
        *,
        pad_id: int,
        max_positions: int,
        positions: str,
        scale: bool,
        dropout: float,
        token_embedding: nn.Embedding | None = None,
    ) -> None:
        super().__init__()
        self.tokens = token_embedding or nn.Embedding(vocab_size, dim, padding_idx=pad_id)  # We (V, D)
        if token_embedding is None:
            nn.init.normal_(self.tokens.weight, mean=0.0, std=dim**-0.5)
            with torch.no_grad():
                self.tokens.weight[pad_id].zero_()
        self.positions = PositionEncoding(dim, max_positions, kind=positions)
        self.scale = math.sqrt(dim) if scale else 1.0
        self.dropout = Dropout(dropout)

    def forward(self, tokens: Tensor, start: int = 0) -> Tensor:
        """``tokens (B, L)`` -> ``(B, L, D)``; ``start`` is the position of the first token."""
        x = self.tokens(tokens) * self.scale  # (B, L, D)
        x = x + self.positions(tokens.shape[1], start).to(x.dtype)
        return self.dropout(x)
