"""The decoder's key/value cache: an explicit object passed to ``decoder(..., cache=cache)``.

Self-attention keys/values grow by one position per decoding step. They live in a buffer
``(B, capacity, K, H, Dh)``: per sentence, per position, one slot for each of its ``K`` rows
(beams). A row writes its new position into its own slot and nothing is ever moved when beam
search reorders rows. Instead each row keeps its *ancestry*: for every past position, the slot
that holds its own history there. A row then attends to all ``L * K`` cached positions of its
sentence through a mask that keeps only its ancestry (the sentence's ``K`` queries share those
keys, like cross-attention below). Physically reordering the cache would copy ``L`` positions
of every row each step, quadratic in the output length; the mask costs ``K * L`` booleans per row.

Cross-attention keys/values are computed once per source and never change. The ``K`` rows of
one sentence share one copy ``(B, H, S, Dh)``: nothing is repeated K times nor reordered when
beams swap. Only when whole sentences leave the batch are the tensors compacted.

Both are stored in the dtype the attention kernel computes in (``kernel_dtype``): fp32 for a
bf16 model on a CPU, so that a step casts only its new keys/values, not the whole cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2s.nn.attention import additive_mask, causal_mask, kernel_dtype

MIN_CAPACITY = 16


@dataclass
class LayerCache:
    """One decoder layer's cache. Cross K/V ``(B, H, S, Dh)``; self K/V buffers ``(B, capacity, K, H, Dh)``."""

    cross_k: Tensor
    cross_v: Tensor
    self_k: Tensor | None = None
    self_v: Tensor | None = None
    capacity_hint: int = 0  # positions the caller expects to decode (0: unknown, grow by doubling)

    def append(self, k: Tensor, v: Tensor, start: int, beams: int) -> tuple[Tensor, Tensor]:
        """Write new ``k, v (B*K, H, Tn, Dh)`` at ``start``, each row into its own slot.

        Returns every cached key/value of each sentence, ``(B, H, (start+Tn) * K, Dh)`` ordered
        position-major (position ``t`` of slot ``s`` is column ``t * K + s``): a view, no copy.
        """
        n, h, tn, dh = k.shape
        end = start + tn
        if self.self_k is None or end > self.self_k.shape[1]:
            self.grow(k, beams, start=start, needed=end)
        for buffer, new in ((self.self_k, k), (self.self_v, v)):
            buffer[:, start:end] = new.view(n // beams, beams, h, tn, dh).permute(0, 3, 1, 2, 4)  # (B, Tn, K, H, Dh)
        return self.sentence_view(self.self_k, end), self.sentence_view(self.self_v, end)

    @staticmethod
    def sentence_view(buffer: Tensor, end: int) -> Tensor:
        """``(B, capacity, K, H, Dh)`` -> the first ``end`` positions as ``(B, H, end * K, Dh)`` (a view)."""
        b, _, beams, h, dh = buffer.shape
        return buffer[:, :end].permute(0, 3, 1, 2, 4).view(b, h, end * beams, dh)

    def grow(self, like: Tensor, beams: int, *, start: int, needed: int) -> None:
        """Buffers for keys like ``like (B*K, H, Tn, Dh)``, ``needed`` positions or more; the first ``start`` kept."""
        n, h, _, dh = like.shape
        batch = n // beams
        old = 0 if self.self_k is None else self.self_k.shape[1]
        capacity = max(needed, 2 * old, self.capacity_hint, MIN_CAPACITY)
        dtype = kernel_dtype(like.dtype, like.device)  # stored as attention reads them: no cast of the cache per step
        new_k, new_v = (like.new_empty(batch, capacity, beams, h, dh, dtype=dtype) for _ in range(2))
        if self.self_k is not None and start:
            new_k[:, :start] = self.self_k[:, :start]
            new_v[:, :start] = self.self_v[:, :start]
        self.self_k, self.self_v = new_k, new_v

    def select_sentences(self, index: Tensor, length: int) -> None:
        """Keep the sentences ``index (B',)``; only the ``length`` decoded positions are copied."""
        self.cross_k = self.cross_k.index_select(0, index)
        self.cross_v = self.cross_v.index_select(0, index)
        if self.self_k is not None:
            new_k, new_v = (buffer.new_empty(index.numel(), *buffer.shape[1:]) for buffer in (self.self_k, self.self_v))
            new_k[:, :length] = self.self_k[index, :length]
            new_v[:, :length] = self.self_v[index, :length]
            self.self_k, self.self_v = new_k, new_v


@dataclass
class KVCache:
    """All decoder layers' caches, the source padding mask, the rows' ancestry and the decoded length.

    Decoder row ``r`` belongs to sentence ``r // beams`` and writes into slot ``r % beams``;
    ``memory_mask`` and the cross-attention keys/values have one row per sentence.
    """

    layers: list[LayerCache]
    memory_mask: Tensor  # (B, S) True on real source positions
    length: int = 0  # target positions already in the cache
    beams: int = 1  # decoder rows per sentence
    ancestry: Tensor | None = None  # (B*K, length): the slot holding row r's own position t (beams > 1)

    def set_beams(self, beams: int, capacity: int = 0) -> None:
        """Before the first step: each sentence will have ``beams`` rows; ``capacity`` positions expected."""
        if self.length:
            raise RuntimeError("set_beams must be called before decoding starts")
        self.beams = beams
        for layer in self.layers:
            layer.capacity_hint = capacity

    def self_attention_mask(self, new: int, dtype: torch.dtype) -> Tensor | None:
        """Start ``new`` positions; the mask for their self-attention over the cache.

        ``None`` when nothing needs masking (one row per sentence, one new position); the causal
        ``(new, end)`` mask for a multi-token prefix; with beams, ``(B, 1, K * new, end * K)``:
        query ``(slot j, position i)`` sees column ``t * K + s`` iff slot ``s`` holds row j's own
        position ``t`` and ``t`` is not in its future (additive, in ``dtype``: all layers use it as is).
        """
        end = self.length + new
        device = self.memory_mask.device
        if self.beams == 1:
            return None if new == 1 else causal_mask(new, end, device)
        batch, k = self.batch_size, self.beams
        own_slot = torch.arange(k, device=device).repeat(batch)  # (N,)
        history = self.ancestry if self.ancestry is not None else own_slot.new_empty(batch * k, 0)
        self.ancestry = torch.cat([history, own_slot[:, None].expand(-1, new)], dim=1)  # (N, end)
        slots = torch.arange(k, device=device)
        allowed = self.ancestry.view(batch, k, 1, end, 1) == slots  # (B, K, 1, end, K)
        if new > 1:
            allowed = allowed & causal_mask(new, end, device)[None, None, :, :, None]  # (B, K, new, end, K)
        return additive_mask(allowed.reshape(batch, 1, k * new, end * k), dtype)

    def reorder(self, index: Tensor) -> None:
        """Keep/duplicate decoder rows: row ``i`` becomes old row ``index[i]``.

        Each run of ``beams`` consecutive new rows must come from one sentence (beam search
        reorders beams within a sentence and drops finished sentences). Rows only take over
        their new ancestry; the cached keys/values move only when sentences leave.
        """
        rows = self.batch_size * self.beams
        if index.numel() == rows and torch.equal(index, torch.arange(rows, device=index.device)):
            return  # nothing moved (greedy decoding where no sentence ended this step)
        sentences = index[:: self.beams] // self.beams  # (B',)
        if not torch.equal(index // self.beams, sentences.repeat_interleave(self.beams)):
            raise ValueError("reorder: each sentence's rows must come from that same sentence")
        if self.ancestry is not None:
            self.ancestry = self.ancestry.index_select(0, index)
        if sentences.numel() != self.batch_size or not torch.equal(
                sentences, torch.arange(self.batch_size, device=sentences.device)):
            for layer in self.layers:
                layer.select_sentences(sentences, self.length)
            self.memory_mask = self.memory_mask.index_select(0, sentences)

    @property
    def batch_size(self) -> int:
        """Sentences (not rows)."""
        return self.memory_mask.shape[0]

