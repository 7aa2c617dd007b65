"""The decoder's key/value cache: an explicit object passed to ``Decoder.step(tokens, cache)``.

Self-attention keys/values grow by one position per decoding step. Under beam search each of a
sentence's ``K`` rows (beams) writes its new position into a column of its own, and nothing moves
when beam search reorders rows. Instead each row keeps its *ancestry*: for every past position,
the slot (beam index) that wrote its own history there. A column remembers the position and slot
it holds, and a row attends to the columns of its own ancestry through a mask; the sentence's ``K``
queries share its columns, like cross-attention below. Physically reordering the cache would copy
every row's ``L`` positions at every step, quadratic in the output length.

The beams of a sentence share most of their past: where they all descend from one node, ``K - 1``
of that position's ``K`` columns are no row's ancestry any more, and never will be again (new rows
are copies of current ones). Such *dead* columns are squeezed out (``drop_dead_columns``) once
that narrows the widest sentence enough to pay for the copy: attention then reads about one
column per distinct node of the beams' tree instead of ``K`` per position. With one row per
sentence (greedy) column = position and none of this is needed.

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

from s2s.nn.attention import additive_mask, causal_mask
from s2s.nn.layer_cache import LayerCache, StepColumns

DEAD_SHARE = 8  # drop dead columns once that narrows the widest sentence by 1/DEAD_SHARE of its columns or more


@dataclass
class KVCache:
    """All decoder layers' caches, the source padding mask, the rows' ancestry and the decoded length.

    Decoder row ``r`` belongs to sentence ``r // beams`` and is slot ``r % beams`` of it;
    ``memory_mask`` and the cross-attention keys/values have one row per sentence. With beams,
    column ``c`` of sentence ``b`` holds position ``column_position[b, c]`` as written by slot
    ``column_slot[b, c]``, for ``c < widths[b]``.
    """

    layers: list[LayerCache]
    memory_mask: Tensor  # (B, S) True on real source positions
    length: int = 0  # target positions already in the cache
    beams: int = 1  # decoder rows per sentence
    ancestry: Tensor | None = None  # (B*K, length): the slot holding row r's own position t (beams > 1)
    column_position: Tensor | None = None  # (B, W) with beams, W the widest sentence's columns
    column_slot: Tensor | None = None  # (B, W)
    widths: Tensor | None = None  # (B,) columns in use per sentence
    same_width: int | None = 0  # the width when all sentences have the same, else None

    def reserve(self, columns: int) -> None:
        """Size the self-attention buffers, when first made, for ``columns`` columns per sentence."""
        for layer in self.layers:
            layer.capacity_hint = columns

    def _widen(self, beams: int) -> None:
        """From one row per sentence to ``beams`` rows, each continuing that row: beam search's first
        step runs one row per sentence (its K starting beams would be the same row K times), then widens.

        Nothing is copied: with one row, column ``c`` of a sentence holds position ``c`` (written by
        slot 0), so every new row's ancestry is slot 0 at every past position. Rows are numbered
        ``sentence * beams + slot`` from here on.
        """
        if self.beams != 1:
            raise RuntimeError(f"widen: the cache already has {self.beams} rows per sentence")
        batch, length, device = self.batch_size, self.length, self.memory_mask.device
        self.beams = beams
        self.ancestry = torch.zeros(batch * beams, length, dtype=torch.long, device=device)  # (N, length)
        self.column_position = torch.arange(length, device=device).repeat(batch, 1)  # (B, length)
        self.column_slot = torch.zeros(batch, length, dtype=torch.long, device=device)
        self.widths = torch.full((batch,), length, dtype=torch.long, device=device)
        self.same_width = length

    def begin_step(self, new: int, dtype: torch.dtype) -> StepColumns:
        """Start ``new`` positions: where their keys/values go and the mask of their self-attention.

        With one row per sentence the mask is ``None`` for one new position, else causal ``(new, end)``.
        With beams it is ``(B, 1, K * new, width)``, additive in ``dtype`` (all layers use it as is):
        query ``(slot j, new position i)`` sees a column iff the column holds a node of row j's
        ancestry that is not in the query's future.
        """
        start, end = self.length, self.length + new
        device = self.memory_mask.device
        if self.beams == 1:
            return StepColumns(slice(start, end), None, end, None if new == 1 else causal_mask(new, end, device))
        assert (
            self.ancestry is not None
            and self.widths is not None
            and self.column_position is not None
            and self.column_slot is not None
        )  # _widen() set the beam tables
        batch, k = self.batch_size, self.beams
        own_slot = torch.arange(k, device=device).repeat(batch)  # (N,)
        self.ancestry = torch.cat([self.ancestry, own_slot[:, None].expand(-1, new)], dim=1)  # (N, end)
        # the new columns: row (b, s) writes position start + i at column widths[b] + i * K + s
        positions = torch.arange(start, end, device=device).repeat_interleave(k)  # (new * K,) position-major
        slots = torch.arange(k, device=device).repeat(new)  # (new * K,)
        width = (int(self.widths.max()) if self.same_width is None else self.same_width) + new * k
        columns = self.widths[:, None] + torch.arange(new * k, device=device)  # (B, new * K)
        self.column_position = self.place(self.column_position, columns, positions, width)
        self.column_slot = self.place(self.column_slot, columns, slots, width)
        self.widths = self.widths + new * k
        mask = additive_mask(self.visible(start, new).reshape(batch, 1, k * new, width), dtype)
        if self.same_width is not None:
            self.same_width += new * k
            return StepColumns(slice(self.same_width - new * k, self.same_width), None, width, mask)
        columns = columns.view(batch, new, k).transpose(1, 2).reshape(batch * k, new)  # (N, new): row (b, s)'s
        sentence = torch.arange(batch, device=device).repeat_interleave(k)[:, None].expand(-1, new)
        return StepColumns(columns, sentence, width, mask)

    @staticmethod
    def place(table: Tensor, columns: Tensor, values: Tensor, width: int) -> Tensor:
        """``table (B, W)`` of column facts, widened to ``width``, with ``values (C,)`` at ``columns (B, C)``."""
        batch = table.shape[0]
        wider = table.new_zeros(batch, width)
        keep = min(table.shape[1], width)  # columns at or past max(widths) hold nothing
        wider[:, :keep] = table[:, :keep]
        return wider.scatter_(1, columns, values.expand(batch, -1))

    def visible(self, start: int, new: int) -> Tensor:
        """``(B, K, new, W)`` boolean: query (slot j, position start + i) may attend column c of its sentence."""
        assert self.column_position is not None  # _widen() set the beam tables
        allowed = self.descends() & self.in_use()[:, None, :]  # (B, K, W)
        query_position = torch.arange(start, start + new, device=allowed.device)
        return allowed[:, :, None, :] & (self.column_position[:, None, None, :] <= query_position[None, None, :, None])

    def descends(self) -> Tensor:
        """``(B, K, W)`` boolean: column c holds a node of the ancestry of row j (slot j of sentence b)."""
        assert (
            self.ancestry is not None and self.column_position is not None and self.column_slot is not None
        )  # _widen() set the beam tables
        batch, k, width = self.batch_size, self.beams, self.column_position.shape[1]
        ancestor = self.ancestry.view(batch, k, -1).gather(2, self.column_position[:, None, :].expand(batch, k, width))
        return ancestor == self.column_slot[:, None, :]  # the slot that wrote row j's node there wrote this column

    def in_use(self) -> Tensor:
        """``(B, W)``: columns below each sentence's width."""
        assert self.column_position is not None and self.widths is not None  # _widen() set the beam tables
        return torch.arange(self.column_position.shape[1], device=self.widths.device) < self.widths[:, None]

    def reorder(self, index: Tensor, beams: int | None = None) -> None:
        """Keep/duplicate decoder rows: row ``i`` of the next step continues row ``index[i]`` of this one.

        ``beams``: rows per sentence from the next step on, when that changes from one (beam search
        runs its first step with one row per sentence, then widens). Each run of ``beams``
        consecutive new rows must come from one sentence (beam search reorders beams within a
        sentence and drops finished sentences). Rows only take over their new ancestry; cached
        keys/values move only when sentences leave or dead columns go.
        """
        if beams is not None and beams != self.beams:
            self._widen(beams)
            index = index * beams  # the widened cache numbers sentence b's one row b * K
        rows = self.batch_size * self.beams
        if index.numel() == rows and torch.equal(index, torch.arange(rows, device=index.device)):
            return  # nothing moved (greedy decoding where no sentence ended this step)
        sentences = index[:: self.beams] // self.beams  # (B',)
        if not torch.equal(index // self.beams, sentences.repeat_interleave(self.beams)):
            raise ValueError("reorder: each sentence's rows must come from that same sentence")
        if self.ancestry is not None:
            self.ancestry = self.ancestry.index_select(0, index)
        if sentences.numel() != self.batch_size or not torch.equal(
            sentences, torch.arange(self.batch_size, device=sentences.device)
        ):
            width = self.length if self.column_position is None else self.column_position.shape[1]
            for layer in self.layers:
                layer.select_sentences(sentences, width)
            self.memory_mask = self.memory_mask.index_select(0, sentences)
            if self.widths is not None:
                assert self.column_position is not None and self.column_slot is not None  # set with widths
                self.widths = self.widths.index_select(0, sentences)
                self.column_position = self.column_position.index_select(0, sentences)
                self.column_slot = self.column_slot.index_select(0, sentences)
                self.same_width = self.single_value(self.widths)
        if self.widths is not None:
            self.drop_dead_columns()

    def drop_dead_columns(self) -> None:
        """Squeeze out the columns no row descends from, if that narrows the widest sentence enough."""
        assert self.column_position is not None and self.column_slot is not None  # _widen() set the beam tables
        width = self.column_position.shape[1]
        live = self.descends().any(dim=1) & self.in_use()  # (B, W)
        counts = live.sum(dim=1)  # (B,)
        narrower = int(counts.max())
        if width - narrower < max(self.beams, width // DEAD_SHARE):
            return
        order = torch.sort((~live).to(torch.uint8), dim=1, stable=True).indices  # (B, W): live columns first
        moved = (order[:, :narrower] != torch.arange(narrower, device=order.device)).any(dim=0)  # (W',)
        if moved.any():  # else the dead columns were already last
            first = int(moved.int().argmax())
            for layer in self.layers:
                layer.move_columns(first, order[:, first:narrower])
        self.column_position = self.column_position.gather(1, order[:, :narrower])
        self.column_slot = self.column_slot.gather(1, order[:, :narrower])
        self.widths = counts
        self.same_width = self.single_value(counts)

    @staticmethod
    def single_value(values: Tensor) -> int | None:
        low, high = int(values.min()), int(values.max())
        return low if low == high else None

    @property
    def batch_size(self) -> int:
        """Sentences (not rows)."""
        return self.memory_mask.shape[0]
