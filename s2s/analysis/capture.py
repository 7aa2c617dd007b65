"""Run a model with every attention module recording its weights (the "attention board").

Uses the ``record_weights`` / ``last_weights`` switch of :class:`s2s.nn.attention.MultiHeadAttention`:
one teacher-forced pass leaves each module's ``softmax(QK^T / sqrt(Dh))`` behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from s2s.nn.attention import MultiHeadAttention

KINDS = ("encoder", "decoder", "cross")
KIND_TITLES = {"encoder": "encoder self-attention", "decoder": "decoder self-attention", "cross": "cross-attention"}


@contextmanager
def recording(model: nn.Module) -> Iterator[None]:
    """Switch every attention module of ``model`` to the weight-keeping path, and back."""
    modules = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    for m in modules:
        m.record_weights = True
    try:
        yield
    finally:
        for m in modules:
            m.record_weights = False
            m.last_weights = None


@dataclass
class AttentionMaps:
    """Every layer's attention weights for one batch (float32, on the CPU)."""

    encoder: list[Tensor]  # per layer (B, H, S, S)
    decoder: list[Tensor]  # per layer (B, H, T, T)
    cross: list[Tensor]  # per layer (B, H, T, S)
    memory_lengths: Tensor  # (B,) encoder positions per example (audio encoders subsample)

    def of(self, kind: str) -> list[Tensor]:
        return getattr(self, kind)

    def example(self, kind: str, index: int, target_length: int) -> list[Tensor]:
        """One example's maps of one kind, padding cut off: per layer ``(H, Tq, Tk)``."""
        s, t = int(self.memory_lengths[index]), target_length
        rows, cols = {"encoder": (s, s), "decoder": (t, t), "cross": (t, s)}[kind]
        return [w[index, :, :rows, :cols] for w in self.of(kind)]


@torch.inference_mode()
def capture_attention(model: nn.Module, source: Tensor, source_lengths: Tensor, target_in: Tensor) -> AttentionMaps:
    """Teacher-force ``target_in (B, T)`` on ``source`` and return all attention weights.

    Works for any :class:`s2s.model.seq2seq.Seq2Seq` whose encoder keeps its layers in ``encoder.stack``.
    """
    with recording(model):
        encoded = model.encode(source, source_lengths)
        model.decoder_states(encoded, target_in)
        encoder = [layer.self_attn.last_weights.float().cpu() for layer in model.encoder.stack.layers]
        decoder = [layer.self_attn.last_weights.float().cpu() for layer in model.decoder.layers]
        cross = [layer.cross_attn.last_weights.float().cpu() for layer in model.decoder.layers]
    return AttentionMaps(encoder, decoder, cross, encoded.lengths.cpu())
