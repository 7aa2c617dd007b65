"""The top of the report: one table of every head sorted by importance, and the importance picture."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from s2s.analysis.capture import KINDS
from s2s.analysis.heads import HeadSummary, pct
from s2s.analysis.measures import ALIGNMENT, CONFIDENCE, ENTROPY

IMPORTANCE_PICTURE = "importance.png"


def ranked(summaries: Sequence[HeadSummary]) -> list[HeadSummary]:
    """Most important first: by the masking loss, else the gradient estimate; report order without either."""

    def key(s: HeadSummary) -> tuple[float, float]:
        return (-s.importance.get("delta", 0.0), -s.importance.get("gradient", 0.0))

    return sorted(summaries, key=key)


def figure_cell(s: HeadSummary) -> str:
    return f"entropy {s.figure:.2f}" if s.measure == ENTROPY else pct(s.figure)


def optional(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def summary_table(summaries: Sequence[HeadSummary], importance: dict | None) -> str:
    """The markdown of the summary section (without its heading)."""
    metric = (importance or {}).get("metric", "bleu").upper()
    has_delta = any("delta" in s.importance for s in summaries)
    has_gradient = any("gradient" in s.importance for s in summaries)
    has_alignment = any(ALIGNMENT in s.measures for s in summaries)
    columns = ["#", "head", "attention", "layer", "role", "figure", "confidence"]
    columns += [f"Δ {metric}"] * has_delta + ["gradient"] * has_gradient + ["alignment"] * has_alignment
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for rank, s in enumerate(ranked(summaries), start=1):
        cells = [
            str(rank),
            f"`{s.name}`",
            s.title,
            str(s.layer),
            s.role,
            figure_cell(s),
            optional(s.measures.get(CONFIDENCE), ".2f"),
        ]
        if has_delta:
            cells.append(optional(s.importance.get("delta"), "+.2f"))
        if has_gradient:
            cells.append(optional(s.importance.get("gradient"), ".4f"))
        if has_alignment:
            value = s.measures.get(ALIGNMENT)
            cells.append("–" if value is None else pct(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def importance_text(importance: dict | None, count: int) -> str:
    """The sentences above the table: what the columns mean and how the two importances agree."""
    if not importance:
        return (
            "Importance was not measured (give `--heldout SRC REF`, or `--heldout-manifest TSV` for speech); "
            f"the {count} heads are in report order."
        )
    metric = importance["metric"].upper()
    text = [
        f"{count} heads, most important first. **Δ {metric}** is the {metric} lost on {importance['size']} "
        f"held-out {importance['unit']} when that head alone is masked ({metric} of the whole model: "
        f"{importance['base']:.2f}; a negative Δ means the model does better without the head). "
        "**gradient** is Michel et al.'s estimate |∂loss/∂ξ| of the same set's reference loss "
        f"({importance.get('gradient_batches', 0)} batches). **confidence** is Voita et al.'s mean maximum weight."
    ]
    rho = importance.get("spearman")
    if rho is not None and not np.isnan(rho):
        text.append(f"The two importances agree with a Spearman rank correlation of {rho:.2f}.")
    return " ".join(text)


def importance_grids(summaries: Sequence[HeadSummary], key: str) -> dict[str, np.ndarray]:
    """Per kind, ``(layers, heads)`` of one importance (NaN where a pruned layer has fewer heads)."""
    grids = {}
    for kind in KINDS:
        of_kind = [s for s in summaries if s.kind == kind and key in s.importance]
        if not of_kind:
            continue
        grid = np.full((max(s.layer for s in of_kind), max(s.head for s in of_kind)), np.nan)
        for s in of_kind:
            grid[s.layer - 1, s.head - 1] = s.importance[key]
        grids[kind] = grid
    return grids


def draw_importance(summaries: Sequence[HeadSummary], out: Path, metric: str) -> Path | None:
    from s2s.analysis.heatmaps import save_importance  # matplotlib only when drawing

    rows = {
        label: importance_grids(summaries, key)
        for key, label in (("delta", f"Δ {metric.upper()} when masked"), ("gradient", "gradient estimate"))
    }
    rows = {label: grids for label, grids in rows.items() if grids}
    if not rows:
        return None
    return save_importance(rows, out / IMPORTANCE_PICTURE)
