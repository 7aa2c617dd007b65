"""The decoder's key/value cache: an explicit object passed to ``decoder(..., cache=cache)``.

Self-attention keys/values grow by one position per decoding step and are written into a
preallocated buffer (amortized doubling), so a step costs O(T) and never re-copies the past.
Cross-attention keys/values are computed once per source and never change. ``reorder``
follows beam search: row ``i`` of the new cache is row ``index[i]`` of the old one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LayerCache:
    """One decoder layer's cache. Self K/V ``(B, H, capacity, Dh)``; cross K/V ``(B, H, S, Dh)``."""

    cross_k: Tensor
    cross_v: Tensor
    self_k: Tensor | None = None
    self_v: Tensor | None = None

    def append(self, k: Tensor, v: Tensor, start: int) -> tuple[Tensor, Tensor]:
        """Write new ``k, v (B, H, Tn, Dh)`` at ``start``; return the keys/values so far ``(B, H, start+Tn, Dh)``."""
        end = start + k.shape[2]
        if self.self_k is None or end > self.self_k.shape[2]:
            self.grow(k, end)
        self.self_k[:, :, start:end] = k
        self.self_v[:, :, start:end] = v
        return self.self_k[:, :, :end], self.self_v[:, :, :end]

    def grow(self, like: Tensor, needed: int) -> None:
        b, h, _, dh = like.shape
        old = 0 if self.self_k is None else self.self_k.shape[2]
        capacity = max(needed, 2 * old, 16)
        new_k = like.new_empty(b, h, capacity, dh)
        new_v = like.new_empty(b, h, capacity, dh)
        if self.self_k is not None:
            new_k[:, :, :old] = self.self_k
            new_v[:, :, :old] = self.self_v
        self.self_k, self.self_v = new_k, new_v

    def reorder(self, index: Tensor) -> None:
        self.cross_k = self.cross_k.index_select(0, index)
        self.cross_v = self.cross_v.index_select(0, index)
        if self.self_k is not None:
            self.self_k = self.self_k.index_select(0, index)
            self.self_v = self.self_v.index_select(0, index)


@dataclass
class KVCache:
    """All decoder layers' caches plus the source padding mask and the number of decoded positions."""

    layers: list[LayerCache]
    memory_mask: Tensor  # (B, S) True on real source positions
    length: int = 0  # target positions already in the cache

    def reorder(self, index: Tensor) -> None:
        """Select/duplicate batch rows, e.g. ``index (B*K,)`` of surviving beams."""
        for layer in self.layers:
            layer.reorder(index)
        self.memory_mask = self.memory_mask.index_select(0, index)

    @property
    def batch_size(self) -> int:
        return self.memory_mask.shape[0]


def repeat_rows(x: Tensor, times: int) -> Tensor:
    """``(B, ...)`` -> ``(B*times, ...)`` with each row repeated ``times`` in a row (beam expansion)."""
    return x.repeat_interleave(times, dim=0) if times > 1 else x


def beam_index(batch: int, beams: int, device: torch.device) -> Tensor:
    """``(B*K,)`` index that expands each of ``batch`` rows into ``beams`` consecutive rows."""
    return torch.arange(batch, device=device).repeat_interleave(beams)
