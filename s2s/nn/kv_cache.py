"""The decoder's key/value cache: an explicit object passed to ``decoder(..., cache=cache)``.

Self-attention keys/values grow by one position per decoding step. They live in a time-major
buffer ``(capacity, N, H, Dh)``: the ``L`` positions decoded so far are its first ``L`` slices,
one contiguous block, so appending writes one slice and ``reorder`` (beam search moving rows
around) copies exactly those ``L`` positions into a second buffer, never the empty rest.
Attention reads them through a ``(N, H, L, Dh)`` strided view, with no copy.

Cross-attention keys/values are computed once per source and never change. With ``beams``
rows per sentence (beam search), the ``K`` rows of one sentence share one copy of its
cross-attention keys/values ``(B, H, S, Dh)``: nothing is repeated K times nor reordered
when beams swap, only when whole sentences leave the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

MIN_CAPACITY = 16


@dataclass
class LayerCache:
    """One decoder layer's cache. Cross K/V ``(B, H, S, Dh)``; self K/V buffers ``(capacity, N, H, Dh)``.

    ``reorder_rows`` writes into a second pair of buffers and keeps the first as the spare for the
    next call: the two are reused all along a decoding run, because allocating fresh buffers every
    step costs page faults in proportion to their capacity, not to the positions decoded.
    """

    cross_k: Tensor
    cross_v: Tensor
    self_k: Tensor | None = None  # (capacity, N, H, Dh), a view of the front of `store`
    self_v: Tensor | None = None
    capacity_hint: int = 0  # positions the caller expects to decode (0: unknown, grow by doubling)
    store: tuple[Tensor, Tensor] | None = None  # flat memory behind self_k, self_v
    spare: tuple[Tensor, Tensor] | None = None  # flat memory for the next reorder

    def append(self, k: Tensor, v: Tensor, start: int) -> tuple[Tensor, Tensor]:
        """Write new ``k, v (N, H, Tn, Dh)`` at ``start``; return the keys/values so far ``(N, H, start+Tn, Dh)``."""
        end = start + k.shape[2]
        if self.self_k is None or end > self.self_k.shape[0]:
            self.grow(k, start, end)
        self.self_k[start:end] = k.permute(2, 0, 1, 3)  # (Tn, N, H, Dh)
        self.self_v[start:end] = v.permute(2, 0, 1, 3)
        return self.self_k[:end].permute(1, 2, 0, 3), self.self_v[:end].permute(1, 2, 0, 3)  # (N, H, end, Dh)

    def grow(self, like: Tensor, start: int, needed: int) -> None:
        n, h, _, dh = like.shape
        old = 0 if self.self_k is None else self.self_k.shape[0]
        capacity = max(needed, 2 * old, self.capacity_hint, MIN_CAPACITY)
        store = (like.new_empty(capacity * n * h * dh), like.new_empty(capacity * n * h * dh))
        new_k, new_v = (flat.view(capacity, n, h, dh) for flat in store)
        if self.self_k is not None and start:
            new_k[:start] = self.self_k[:start]
            new_v[:start] = self.self_v[:start]
        self.self_k, self.self_v, self.store, self.spare = new_k, new_v, store, None

    def reorder_rows(self, index: Tensor, length: int) -> None:
        """Row ``i`` of the self-attention cache becomes old row ``index[i]``; only ``length`` positions move."""
        if self.self_k is None or length == 0:
            return
        capacity, _, h, dh = self.self_k.shape
        size = capacity * index.numel() * h * dh
        if self.spare is None or self.spare[0].numel() < size:
            self.spare = (self.self_k.new_empty(size), self.self_v.new_empty(size))
        new_k, new_v = (flat[:size].view(capacity, index.numel(), h, dh) for flat in self.spare)
        torch.index_select(self.self_k[:length], 1, index, out=new_k[:length])
        torch.index_select(self.self_v[:length], 1, index, out=new_v[:length])
        self.store, self.spare = self.spare, self.store
        self.self_k, self.self_v = new_k, new_v

    def select_sentences(self, index: Tensor) -> None:
        self.cross_k = self.cross_k.index_select(0, index)
        self.cross_v = self.cross_v.index_select(0, index)


@dataclass
class KVCache:
    """All decoder layers' caches, the source padding mask and the number of decoded positions.

    Decoder row ``r`` belongs to sentence ``r // beams``; ``memory_mask`` and the cross-attention
    keys/values have one row per sentence.
    """

    layers: list[LayerCache]
    memory_mask: Tensor  # (B, S) True on real source positions
    length: int = 0  # target positions already in the cache
    beams: int = 1  # decoder rows per sentence

    def set_beams(self, beams: int, capacity: int = 0) -> None:
        """Before the first step: each sentence will have ``beams`` rows; ``capacity`` positions expected."""
        if self.length:
            raise RuntimeError("set_beams must be called before decoding starts")
        self.beams = beams
        for layer in self.layers:
            layer.capacity_hint = capacity

    def reorder(self, index: Tensor) -> None:
        """Keep/duplicate decoder rows: row ``i`` becomes old row ``index[i]``.

        Each run of ``beams`` consecutive new rows must come from one sentence (beam search
        reorders beams within a sentence and drops finished sentences), so the sentence-level
        tensors only follow ``index[::beams] // beams``, and only when sentences leave.
        """
        rows = self.memory_mask.shape[0] * self.beams
        if index.numel() == rows and torch.equal(index, torch.arange(rows, device=index.device)):
            return  # nothing moved (greedy decoding where no sentence ended this step)
        for layer in self.layers:
            layer.reorder_rows(index, self.length)
        sentences = index[:: self.beams] // self.beams  # (B',)
        if sentences.numel() != self.batch_size or not torch.equal(sentences, torch.arange(
                self.batch_size, device=sentences.device)):
            for layer in self.layers:
                layer.select_sentences(sentences)
            self.memory_mask = self.memory_mask.index_select(0, sentences)

    @property
    def batch_size(self) -> int:
        """Sentences (not rows)."""
        return self.memory_mask.shape[0]


def repeat_rows(x: Tensor, times: int) -> Tensor:
    """``(B, ...)`` -> ``(B*times, ...)`` with each row repeated ``times`` in a row (beam expansion)."""
    return x.repeat_interleave(times, dim=0) if times > 1 else x


def beam_index(batch: int, beams: int, device: torch.device) -> Tensor:
    """``(B*K,)`` index that expands each of ``batch`` rows into ``beams`` consecutive rows."""
    return torch.arange(batch, device=device).repeat_interleave(beams)
