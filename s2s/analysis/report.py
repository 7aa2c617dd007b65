"""Write the report: ``analysis.md`` in the user's template, ``heads.json`` and the heatmaps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s2s.analysis.collect import ExampleAttention
from s2s.analysis.heads import BROAD_ENTROPY, MIN_LIFT, MIN_SHARE, HeadSummary, pct
from s2s.analysis.heatmaps import save_heatmap
from s2s.analysis.measures import ENTROPY, MONOTONIC_BAND, noun


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    heatmaps: dict[tuple[str, int, int, int], Path]  # (kind, layer, head, rank) -> PNG, relative to the report dir


def heatmap_name(summary: HeadSummary, rank: int) -> str:
    return f"heatmaps/{summary.kind}-L{summary.layer}-H{summary.head}-{rank}.png"


def example_line(example: ExampleAttention) -> str:
    text = f"{example.source} → {example.target}" if example.target else example.source
    return " ".join(text.split())


def figure_text(summary: HeadSummary, value: float) -> str:
    return f"entropy {value:.2f}" if summary.measure == ENTROPY else pct(value)


def section(summary: HeadSummary, examples: Sequence[ExampleAttention]) -> str:
    lines = [f"## Layer {summary.layer}, Head {summary.head} ({summary.title})", "", summary.description]
    if summary.others:
        unit = examples[0].axes(summary.kind)[1].unit
        others = ", ".join(f"{noun(m, unit)} {pct(summary.measures[m])}" for m in summary.others)
        lines.append(f"Also over the thresholds: {others}.")
    lines += ["", "Example Sentences:"]
    for rank, (index, value) in enumerate(summary.examples, start=1):
        lines.append(f"- {example_line(examples[index])} ({figure_text(summary, value)};"
                     f" [heatmap]({heatmap_name(summary, rank)}))")
    if not summary.examples:
        lines.append("- (no input has a position this measure applies to)")
    return "\n".join(lines)


def draw(summary: HeadSummary, rank: int, example: ExampleAttention, out: Path) -> Path:
    queries, keys = example.axes(summary.kind)
    weights = example.weights[summary.kind][summary.layer - 1][summary.head - 1]  # (Tq, Tk)
    title = f"{summary.title} L{summary.layer} H{summary.head}: {summary.pattern}"
    xlabel = "source (keys)" if summary.kind != "decoder" else "output so far (keys)"
    ylabel = "source (queries)" if summary.kind == "encoder" else "decoder input (queries)"
    return save_heatmap(weights, out / heatmap_name(summary, rank), queries=queries.labels, keys=keys.labels,
                        title=title, xlabel=xlabel, ylabel=ylabel)


def head_record(summary: HeadSummary, examples: Sequence[ExampleAttention]) -> dict:
    return {
        "attention": summary.kind, "title": summary.title, "layer": summary.layer, "head": summary.head,
        "pattern": summary.pattern, "measure": summary.measure, "figure": round(summary.figure, 4),
        "description": summary.description, "also": summary.others,
        "measures": {k: round(v, 4) for k, v in summary.measures.items()},
        "uniform_baselines": {k: round(v, 4) for k, v in summary.baselines.items() if k != ENTROPY},
        "examples": [{"index": i, "source": examples[i].source, "output": examples[i].target, "figure": round(v, 4),
                      "heatmap": heatmap_name(summary, rank)}
                     for rank, (i, v) in enumerate(summary.examples, start=1)],
    }


def write_report(summaries: Sequence[HeadSummary], examples: Sequence[ExampleAttention], out: str | Path, *,
                 meta: dict) -> ReportFiles:
    """``out/analysis.md``, ``out/heads.json`` and ``out/heatmaps/*.png``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pictures = {}
    for summary in summaries:
        for rank, (index, _) in enumerate(summary.examples, start=1):
            draw(summary, rank, examples[index], out)
            pictures[(summary.kind, summary.layer, summary.head, rank)] = Path(heatmap_name(summary, rank))
    markdown = out / "analysis.md"
    markdown.write_text("# Analysis\n\n" + "\n\n".join(section(s, examples) for s in summaries) + "\n",
                        encoding="utf-8")
    data = {
        "meta": meta,
        "rules": {"min_share": MIN_SHARE, "min_lift": MIN_LIFT, "broad_entropy": BROAD_ENTROPY,
                  "monotonic_band": MONOTONIC_BAND, "layers_and_heads": "1-based"},
        "heads": [head_record(s, examples) for s in summaries],
        "inputs": [{"source": e.source, "output": e.target} for e in examples],
    }
    path = out / "heads.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ReportFiles(markdown, path, pictures)
