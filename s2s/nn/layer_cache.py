"""One decoder layer's cache (``LayerCache``) and where a decoding step writes into it (``StepColumns``).

How the columns are laid out under beam search, and why nothing moves when beams swap:
``s2s.nn.kv_cache``, whose ``KVCache`` holds one ``LayerCache`` per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from s2s.nn.attention import kernel_dtype

MIN_CAPACITY = 16


@dataclass(frozen=True)
class StepColumns:
    """Where one decoding step writes its new keys/values and what its queries read; the same for every layer."""

    columns: Tensor | slice  # (N, Tn) column of each new key, or one slice when every sentence has the same layout
    sentence: Tensor | None  # (N, Tn) sentence of each new key; None with a slice
    width: int  # columns attention reads: the widest sentence's, the others masked beyond their own
    mask: Tensor | None  # additive self-attention mask (KVCache.begin_step), or None: nothing to mask


class LayerKeysValues(Protocol):
    """What a decoder layer reads and writes of its cache: a :class:`LayerCache`, or an exported graph's step."""

    cross_k: Tensor
    cross_v: Tensor

    def append(self, k: Tensor, v: Tensor, step: StepColumns) -> tuple[Tensor, Tensor]: ...


@dataclass
class LayerCache:
    """One decoder layer's cache. Cross K/V ``(B, H, S, Dh)``; self K/V buffers ``(B, capacity, H, Dh)`` of columns."""

    cross_k: Tensor
    cross_v: Tensor
    self_k: Tensor | None = None
    self_v: Tensor | None = None
    capacity_hint: int = 0  # columns the caller expects to fill (0: unknown, grow by doubling)

    def append(self, k: Tensor, v: Tensor, step: StepColumns) -> tuple[Tensor, Tensor]:
        """Write new ``k, v (N, H, Tn, Dh)`` into the columns ``step`` names.

        Returns the first ``step.width`` columns of every sentence, ``(B, H, width, Dh)``: views, no copy.
        """
        if self.self_k is None or step.width > self.self_k.shape[1]:
            self.grow(k, step.width)
        assert self.self_k is not None and self.self_v is not None  # grow() made them
        batch = self.cross_k.shape[0]
        n, h, tn, dh = k.shape
        for buffer, new in ((self.self_k, k), (self.self_v, v)):
            if step.sentence is None:  # position-major, slot-minor: (B, Tn * K, H, Dh)
                buffer[:, step.columns] = (
                    new.view(batch, n // batch, h, tn, dh)
                    .permute(0, 3, 1, 2, 4)
                    .reshape(batch, tn * (n // batch), h, dh)
                )
            else:
                buffer[step.sentence, step.columns] = new.transpose(1, 2).to(buffer.dtype)  # (N, Tn, H, Dh)
        return self.self_k[:, : step.width].transpose(1, 2), self.self_v[:, : step.width].transpose(1, 2)

    def grow(self, like: Tensor, needed: int) -> None:
        """Buffers for keys like ``like (N, H, Tn, Dh)`` with ``needed`` columns or more; columns in use kept."""
        _, h, _, dh = like.shape
        old = 0 if self.self_k is None else self.self_k.shape[1]
        capacity = max(needed, 2 * old, self.capacity_hint, MIN_CAPACITY)
        dtype = kernel_dtype(like.dtype, like.device)  # stored as attention reads them: no cast of the cache per step
        # zeros: a column no row wrote yet is read (masked) when a wider sentence sets the width, and masking
        # removes a finite key's score but not a NaN's
        new_k, new_v = (like.new_zeros(self.cross_k.shape[0], capacity, h, dh, dtype=dtype) for _ in range(2))
        if self.self_k is not None:
            assert self.self_v is not None  # the two buffers are made together
            new_k[:, :old] = self.self_k
            new_v[:, :old] = self.self_v
        self.self_k, self.self_v = new_k, new_v

    def select_sentences(self, index: Tensor, width: int) -> None:
        """Keep the sentences ``index (B',)``; only the ``width`` columns in use are copied."""
        self.cross_k = self.cross_k.index_select(0, index)
        self.cross_v = self.cross_v.index_select(0, index)
        if self.self_k is not None:
            assert self.self_v is not None  # the two buffers are made together
            new_k, new_v = (buffer.new_zeros(index.numel(), *buffer.shape[1:]) for buffer in (self.self_k, self.self_v))
            new_k[:, :width] = self.self_k[index, :width]
            new_v[:, :width] = self.self_v[index, :width]
            self.self_k, self.self_v = new_k, new_v

    def move_columns(self, start: int, source: Tensor) -> None:
        """Column ``start + j`` of sentence ``b`` takes what column ``source[b, j] >= start`` held; ``source (B, W)``."""
        assert self.self_k is not None and self.self_v is not None  # only a cache with columns has columns to move
        batch, capacity, h, dh = self.self_k.shape
        end = start + source.shape[1]
        # whole columns (H * Dh values each) picked from the buffers seen as (B * capacity, H * Dh): a row copy,
        # much cheaper than gathering the 4-D tensor value by value (bench/decode_parts.py, "cache: reorder")
        rows = (torch.arange(batch, device=source.device)[:, None] * capacity + source).view(-1)  # (B * W,)
        for buffer in (self.self_k, self.self_v):
            picked = buffer.view(batch * capacity, h * dh).index_select(0, rows)  # a copy: sources may be overwritten
            buffer[:, start:end] = picked.view(batch, -1, h, dh)
