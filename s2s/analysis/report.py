"""Write the report: ``analysis.md`` in the user's template, ``heads.json`` and the heatmaps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s2s.analysis.collect import ExampleAttention
from s2s.analysis.heads import BROAD_ENTROPY, MIN_LIFT, MIN_SHARE, HeadSummary, pct
from s2s.analysis.heatmaps import save_heatmap
from s2s.analysis.measures import ALIGNMENT, CONFIDENCE, ENTROPY, MAX_OFFSET, MONOTONIC_BAND, noun
from s2s.analysis.summary import IMPORTANCE_PICTURE, draw_importance, importance_text, ranked, summary_table


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    heatmaps: dict[tuple[str, int, int, int], Path]  # (kind, layer, head, rank) -> PNG, relative to the report dir
    importance: Path | None = None  # the importance picture, when importance was measured


def heatmap_name(summary: HeadSummary, rank: int) -> str:
    return f"heatmaps/{summary.kind}-L{summary.layer}-H{summary.head}-{rank}.png"


def example_line(example: ExampleAttention) -> str:
    text = f"{example.source} → {example.target}" if example.target else example.source
    return " ".join(text.split())


def figure_text(summary: HeadSummary, value: float) -> str:
    return f"entropy {value:.2f}" if summary.measure == ENTROPY else pct(value)


def importance_line(summary: HeadSummary, importance: dict | None, rank: int, count: int) -> str | None:
    if not summary.importance:
        return None
    assert importance is not None  # a head has importance figures only where the report measured them
    parts = []
    if "delta" in summary.importance:
        metric = importance["metric"].upper()
        parts.append(
            f"masking it alone takes {metric} from {importance['base']:.2f} to "
            f"{summary.importance['masked']:.2f} (Δ {metric} {summary.importance['delta']:+.2f})"
        )
    if "gradient" in summary.importance:
        parts.append(f"gradient estimate {summary.importance['gradient']:.4f}")
    return f"Importance: rank {rank} of {count}; " + "; ".join(parts) + "."


def figures_line(summary: HeadSummary) -> str:
    text = []
    if CONFIDENCE in summary.measures:
        text.append(
            f"Confidence {summary.measures[CONFIDENCE]:.2f} (mean maximum weight; uniform attention would "
            f"give {summary.baselines[CONFIDENCE]:.2f})"
        )
    if ALIGNMENT in summary.measures:
        text.append(
            f"alignment agreement {pct(summary.measures[ALIGNMENT])} (argmax on a source word eflomal links; "
            f"uniform {pct(summary.baselines[ALIGNMENT])})"
        )
    return "; ".join(text) + "." if text else ""


def section(
    summary: HeadSummary,
    examples: Sequence[ExampleAttention],
    importance: dict | None = None,
    rank: int = 0,
    count: int = 0,
) -> str:
    lines = [f"## Layer {summary.layer}, Head {summary.head} ({summary.title})", "", summary.description]
    if summary.others:
        unit = examples[0].axes(summary.kind)[1].unit
        others = ", ".join(f"{noun(m, unit)} {pct(summary.measures[m])}" for m in summary.others)
        lines.append(f"Also over the thresholds: {others}.")
    if figures := figures_line(summary):
        lines.append(figures)
    if line := importance_line(summary, importance, rank, count):
        lines.append(line)
    lines += ["", "Example Sentences:"]
    for rank, (index, value) in enumerate(summary.examples, start=1):
        lines.append(
            f"- {example_line(examples[index])} ({figure_text(summary, value)};"
            f" [heatmap]({heatmap_name(summary, rank)}))"
        )
    if not summary.examples:
        lines.append("- (no input has a position this measure applies to)")
    return "\n".join(lines)


def draw(summary: HeadSummary, rank: int, example: ExampleAttention, out: Path) -> Path:
    queries, keys = example.axes(summary.kind)
    weights = example.weights[summary.kind][summary.layer - 1][summary.head - 1]  # (Tq, Tk)
    title = f"{summary.title} L{summary.layer} H{summary.head}: {summary.pattern}"
    xlabel = "source (keys)" if summary.kind != "decoder" else "output so far (keys)"
    ylabel = "source (queries)" if summary.kind == "encoder" else "decoder input (queries)"
    return save_heatmap(
        weights,
        out / heatmap_name(summary, rank),
        queries=queries.labels,
        keys=keys.labels,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
    )


def head_record(summary: HeadSummary, examples: Sequence[ExampleAttention]) -> dict:
    return {
        "attention": summary.kind,
        "title": summary.title,
        "layer": summary.layer,
        "head": summary.head,
        "pattern": summary.pattern,
        "measure": summary.measure,
        "figure": round(summary.figure, 4),
        "description": summary.description,
        "also": summary.others,
        "role": summary.role,
        "importance": {k: round(v, 6) for k, v in summary.importance.items()},
        "measures": {k: round(v, 4) for k, v in summary.measures.items()},
        "uniform_baselines": {k: round(v, 4) for k, v in summary.baselines.items() if k != ENTROPY},
        "examples": [
            {
                "index": i,
                "source": examples[i].source,
                "output": examples[i].target,
                "figure": round(v, 4),
                "heatmap": heatmap_name(summary, rank),
            }
            for rank, (i, v) in enumerate(summary.examples, start=1)
        ],
    }


def write_report(
    summaries: Sequence[HeadSummary],
    examples: Sequence[ExampleAttention],
    out: str | Path,
    *,
    meta: dict,
    importance: dict | None = None,
) -> ReportFiles:
    """``out/analysis.md`` (the summary table, then one section per head), ``out/heads.json``,
    ``out/heatmaps/*.png`` and ``out/importance.png``; returns their paths. ``importance``: how the
    heads' importance was measured (metric, base score, held-out size; s2s.analysis.importance)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = {}
    for summary in summaries:
        for rank, (index, _) in enumerate(summary.examples, start=1):
            draw(summary, rank, examples[index], out)
            pictures[(summary.kind, summary.layer, summary.head, rank)] = Path(heatmap_name(summary, rank))
    picture = draw_importance(summaries, out, importance["metric"]) if importance else None
    order = {id(s): rank for rank, s in enumerate(ranked(summaries), start=1)}
    top = ["## Summary", "", importance_text(importance, len(summaries)), "", summary_table(summaries, importance)]
    if picture is not None:
        top += ["", f"![importance of every head]({IMPORTANCE_PICTURE})"]
    sections = [section(s, examples, importance, order[id(s)], len(summaries)) for s in summaries]
    markdown = out / "analysis.md"
    markdown.write_text("# Analysis\n\n" + "\n\n".join(["\n".join(top), *sections]) + "\n", encoding="utf-8")
    data = {
        "meta": meta,
        "rules": {
            "min_share": MIN_SHARE,
            "min_lift": MIN_LIFT,
            "broad_entropy": BROAD_ENTROPY,
            "monotonic_band": MONOTONIC_BAND,
            "max_offset": MAX_OFFSET,
            "layers_and_heads": "1-based",
        },
        "importance": importance,
        "heads": [head_record(s, examples) for s in summaries],
        "inputs": [{"source": e.source, "output": e.target} for e in examples],
    }
    path = out / "heads.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ReportFiles(markdown, path, pictures, picture)
