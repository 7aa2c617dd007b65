"""Attention heatmaps as PNG files: one head on one example, or a layers x heads grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MAX_LABELS = 60  # longer axes are drawn without tick labels
MAX_INCHES = 16.0  # the largest side of one heatmap


def _axes(ax, weights: np.ndarray, queries: Sequence[str] | None, keys: Sequence[str] | None, title: str) -> None:
    ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=8)
    for labels, set_ticks, set_labels, rotation in (
        (keys, ax.set_xticks, ax.set_xticklabels, 90),
        (queries, ax.set_yticks, ax.set_yticklabels, 0),
    ):
        if labels is not None and len(labels) <= MAX_LABELS:
            set_ticks(range(len(labels)))
            set_labels(labels, fontsize=6, rotation=rotation)
        else:
            set_ticks([])


def save_heatmap(
    weights: np.ndarray,
    path: Path,
    *,
    queries: Sequence[str] | None,
    keys: Sequence[str] | None,
    title: str,
    xlabel: str = "key",
    ylabel: str = "query",
) -> Path:
    """One ``(Tq, Tk)`` attention matrix, rows = queries, columns = keys."""
    tq, tk = weights.shape
    # long axes (a Whisper window has 1,500 positions) are squeezed into MAX_INCHES, not drawn a cell each
    fig, ax = plt.subplots(
        figsize=(min(MAX_INCHES, max(3.0, 0.22 * tk + 1.6)), min(MAX_INCHES, max(2.6, 0.22 * tq + 1.2))), dpi=100
    )
    _axes(ax, weights, queries, keys, title)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel(ylabel, fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_grid(
    maps: Sequence[np.ndarray], path: Path, *, queries: Sequence[str] | None, keys: Sequence[str] | None, title: str
) -> Path:
    """Every head of every layer for one example: ``maps`` per layer ``(H, Tq, Tk)``; rows layers, columns heads."""
    layers, heads = len(maps), maps[0].shape[0]
    tq, tk = maps[0].shape[1:]
    cell_w, cell_h = max(2.0, 0.16 * tk + 0.8), max(1.8, 0.16 * tq + 0.6)
    fig, axes = plt.subplots(layers, heads, figsize=(cell_w * heads, cell_h * layers + 0.4), dpi=80, squeeze=False)
    for layer, weights in enumerate(maps):
        for head in range(heads):
            show_y = queries if head == 0 else None
            show_x = keys if layer == layers - 1 else None
            _axes(axes[layer][head], weights[head], show_y, show_x, f"L{layer + 1} H{head + 1}")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def save_importance(rows: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """One row of panels per importance (its label -> kind -> ``(layers, heads)``), one panel per kind;
    each cell is a head, coloured and labelled with its value (blank where a pruned layer has no head)."""
    kinds = list(dict.fromkeys(kind for grids in rows.values() for kind in grids))
    fig, axes = plt.subplots(len(rows), len(kinds), figsize=(3.2 * len(kinds), 2.6 * len(rows)), dpi=100, squeeze=False)
    for r, (label, grids) in enumerate(rows.items()):
        limit = max(float(np.nanmax(np.abs(g))) for g in grids.values()) or 1.0  # one colour scale per row
        diverging = min(float(np.nanmin(g)) for g in grids.values()) < 0  # Δ can be negative: centre on 0
        for c, kind in enumerate(kinds):
            ax = axes[r][c]
            grid = grids.get(kind)
            if grid is None:
                ax.axis("off")
                continue
            ax.imshow(
                grid,
                cmap="RdBu_r" if diverging else "Reds",
                vmin=-limit if diverging else 0.0,
                vmax=limit,
                aspect="auto",
                interpolation="nearest",
            )
            for (layer, head), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(head, layer, f"{value:.2g}", ha="center", va="center", fontsize=7)
            ax.set_xticks(range(grid.shape[1]), [f"H{h + 1}" for h in range(grid.shape[1])], fontsize=7)
            ax.set_yticks(range(grid.shape[0]), [f"L{layer + 1}" for layer in range(grid.shape[0])], fontsize=7)
            ax.set_title(f"{kind}: {label}", fontsize=8)
    return _save(fig, path)
