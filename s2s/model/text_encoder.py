"""TextEncoder: token embedding + positions + bidirectional self-attention (padding mask only)."""

from __future__ import annotations

from torch import Tensor, nn

from s2s.model.config import ModelConfig
from s2s.model.encoder_stack import EncoderStack
from s2s.nn.attention import padding_mask
from s2s.nn.embeddings import Embedding


class TextEncoder(nn.Module):
    def __init__(self, config: ModelConfig, embedding: Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.stack = EncoderStack(config)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``tokens (B, S)`` padded, ``lengths (B,)`` -> memory ``(B, S, D)`` and its mask ``(B, S)``."""
        mask = padding_mask(lengths, tokens.shape[1])  # (B, S) True on real tokens
        return self.stack(self.embedding(tokens), mask), mask
