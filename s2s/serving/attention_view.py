"""One sentence's translation and the cross-attention behind it, as a heatmap image, for ``s2s app``.

The model's own output is decoded and teacher-forced back with every attention module recording
(:func:`s2s.analysis.collect.collect_attention`, as ``s2s analyze`` does), so the picture is the
attention that produced exactly the translation shown.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2s.analysis.collect import collect_attention
from s2s.analysis.heatmaps import save_heatmap
from s2s.analysis.inputs import TextInputs
from s2s.checkpoint import LoadedModel
from s2s.inference.decoding_defaults import layered_options

MEAN = "mean over heads"


@dataclass(frozen=True)
class AttentionView:
    translation: str
    heatmap: Path  # PNG: output tokens (rows) x source tokens (columns)


def given_beam(beam: int | None) -> dict:
    return {} if beam is None else {"beam_size": beam}


def text_side(loaded: LoadedModel, *, beam: int | None, tgt_lang: str | None = None) -> TextInputs:
    """The analysis's text input side, decoding as `s2s translate --beam` does (None: the checkpoint's own
    decoding), and raising ValueError where it does."""
    return TextInputs(loaded, options=layered_options(loaded, given_beam(beam)), target_lang=tgt_lang)


def cross_attention_view(
    side: TextInputs, sentence: str, *, layer: int, head: str = MEAN, folder: Path | None = None
) -> AttentionView:
    """``layer`` 1-based; ``head`` a 1-based number as text, or :data:`MEAN`."""
    example = collect_attention(side, side.model, side.read([sentence]))[0]
    maps = example.weights["cross"][layer - 1]  # (H, T, S): decoder input positions x source tokens
    weights = maps.mean(axis=0) if head == MEAN else maps[int(head) - 1]
    queries, keys = example.axes("cross")
    name = "mean" if head == MEAN else f"H{head}"
    folder = Path(folder or tempfile.mkdtemp(prefix="s2s-app-"))
    path = save_heatmap(
        np.asarray(weights),
        folder / f"cross-L{layer}-{name}.png",
        queries=queries.labels,
        keys=keys.labels,
        title=f"cross-attention, layer {layer}, {head if head == MEAN else 'head ' + head}",
        xlabel="source (keys)",
        ylabel="decoder input (queries)",
    )
    return AttentionView(example.target, path)
