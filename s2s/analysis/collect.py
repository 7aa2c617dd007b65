"""Decode the inputs, then teacher-force the outputs with attention recording on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s2s.analysis.capture import KINDS, capture_attention
from s2s.analysis.inputs import Axis, InputSide, SourceItem, token_axis


@dataclass
class ExampleAttention:
    """One input's attention: per kind, per layer ``(H, Tq, Tk)``."""

    source: str
    target: str  # the model's output (or the given target), as text
    source_axis: Axis
    target_axis: Axis
    prefix_len: int
    weights: dict[str, list[np.ndarray]]
    links: frozenset[tuple[int, int]] | None = None  # cross-attention (query, source position) of a word aligner

    def axes(self, kind: str) -> tuple[Axis, Axis]:
        """``(query axis, key axis)`` of one attention kind."""
        return {
            "encoder": (self.source_axis, self.source_axis),
            "decoder": (self.target_axis, self.target_axis),
            "cross": (self.target_axis, self.source_axis),
        }[kind]


def collect_attention(
    side: InputSide,
    model,
    items: Sequence[SourceItem],
    *,
    targets: Sequence[Sequence[int]] | None = None,
    batch_size: int = 16,
    links: Sequence[frozenset[tuple[int, int]]] | None = None,
) -> list[ExampleAttention]:
    """Attention of every layer and head on every item.

    Without ``targets`` the decoder side is the model's own output (decoded with the side's
    options); with them, those token ids are teacher-forced instead (e.g. references). ``links``:
    per item, the word aligner's cross-attention links (``s2s.analysis.alignment.cross_links``).
    """
    tokenizer = side.tokenizer
    prefix = list(side.prefix)
    results: list[ExampleAttention] = []
    for start in range(0, len(items), batch_size):
        chunk = list(items[start : start + batch_size])
        outputs = side.decode(chunk) if targets is None else [list(t) for t in targets[start : start + batch_size]]
        batch = side.batch(chunk, outputs)
        maps = capture_attention(model, batch.source, batch.source_lengths, batch.target_in)
        for i, (item, output) in enumerate(zip(chunk, outputs)):
            target_ids = prefix + output
            weights = {kind: [w.numpy() for w in maps.example(kind, i, len(target_ids))] for kind in KINDS}
            source_axis = side.source_axis(item, int(maps.memory_lengths[i]))
            target_axis = token_axis(tokenizer, target_ids)
            results.append(
                ExampleAttention(
                    item.text,
                    tokenizer.decode(output),
                    source_axis,
                    target_axis,
                    len(prefix),
                    weights,
                    None if links is None else links[start + i],
                )
            )
    return results
