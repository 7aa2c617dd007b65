"""From measures to a verdict per head: its dominant pattern, figure and strongest examples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from s2s.analysis.capture import KIND_TITLES, KINDS
from s2s.analysis.collect import ExampleAttention
from s2s.analysis.measures import ENTROPY, STATISTICS, Context, Tally, label, measure, noun

MIN_SHARE = 0.3  # a pattern needs at least this share of attention...
MIN_LIFT = 2.0  # ...and at least this many times what uniform attention would give it
BROAD_ENTROPY = 0.75  # no pattern, and normalized entropy at least this: "broad"


@dataclass
class HeadSummary:
    kind: str
    layer: int  # 1-based, as in the report
    head: int  # 1-based
    pattern: str  # a MEASURES name, "broad" or "mixed"
    measure: str  # the measure its examples are ranked by
    figure: float  # the pattern's share (or normalized entropy for "broad")
    description: str  # one sentence with the figure
    measures: dict[str, float]  # every measure's share, and "entropy"
    baselines: dict[str, float]  # uniform attention's share of each measure
    others: list[str] = field(default_factory=list)  # other patterns over the thresholds
    examples: list[tuple[int, float]] = field(default_factory=list)  # (example index, its figure), strongest first
    importance: dict[str, float] = field(default_factory=dict)  # s2s.analysis.importance: "delta", "gradient"...
    unit: str = "token"  # what a key position is: "token", or "frame" for audio

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.layer}:{self.head}"

    @property
    def role(self) -> str:
        """The pattern's short name; attention parked on the source's EOS or punctuation is a no-op."""
        if self.pattern in ("broad", "mixed"):
            return self.pattern.capitalize()
        text = label(self.pattern, self.unit)
        if self.pattern in ("eos", "punctuation") and self.kind != "decoder":
            text += " (no-op)"
        return text


def qualifies(share: float, baseline: float) -> bool:
    return share >= MIN_SHARE and share >= MIN_LIFT * baseline


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


@dataclass(frozen=True)
class Verdict:
    pattern: str  # a MEASURES name, "broad" or "mixed"
    measure: str  # the measure examples are ranked by
    figure: float
    sentence: str
    others: list[str]


def verdict(measures: dict[str, float], baselines: dict[str, float], unit: str = "token") -> Verdict:
    """Name one head's dominant pattern from its shares (see docs/guides/analysis.md for the rule)."""
    patterns = {m: s for m, s in measures.items() if m not in STATISTICS}
    good = sorted((m for m, s in patterns.items() if qualifies(s, baselines[m])), key=lambda m: -patterns[m])
    if "noop" in good and {"eos", "punctuation"} & set(good):
        good.remove("noop")  # the narrower pattern names it; both are no-op roles (HeadSummary.role)
    entropy = measures.get(ENTROPY, 0.0)
    if good:
        top = good[0]
        sentence = (
            f"{label(top, unit)}: {pct(patterns[top])} of attention on {noun(top, unit)}"
            f" (uniform attention would give {pct(baselines[top])})."
        )
        return Verdict(top, top, patterns[top], sentence, good[1:])
    if entropy >= BROAD_ENTROPY or not patterns:
        sentence = f"Broad attention: normalized entropy {entropy:.2f} (1.00 is uniform); no pattern stands out."
        return Verdict("broad", ENTROPY, entropy, sentence, [])
    top = max(patterns, key=lambda m: patterns[m] / max(baselines[m], 1e-9))
    if patterns[top] <= baselines[top]:
        sentence = (
            f"No single pattern: attention is concentrated (normalized entropy {entropy:.2f}) but no measured"
            f" position gets more of it than uniform attention would give; closest is {noun(top, unit)},"
            f" {pct(patterns[top])} (uniform {pct(baselines[top])})."
        )
    else:
        sentence = (
            f"No single pattern: the largest lift is {noun(top, unit)}, {pct(patterns[top])} of attention"
            f" (uniform attention would give {pct(baselines[top])}); normalized entropy {entropy:.2f}."
        )
    return Verdict("mixed", top, patterns[top], sentence, [])


def example_figure(tally: Tally | None, head: int) -> float | None:
    return None if tally is None or not tally.queries else float(tally.mass[head] / tally.queries)


def summarize(examples: Sequence[ExampleAttention], *, top: int = 3) -> list[HeadSummary]:
    """A :class:`HeadSummary` for every kind, layer and head, in report order."""
    summaries = []
    for kind in KINDS:
        layers = len(examples[0].weights[kind])
        for layer in range(layers):
            per_example: list[dict[str, Tally]] = []
            for ex in examples:
                queries, keys = ex.axes(kind)
                per_example.append(
                    measure(
                        ex.weights[kind][layer],
                        Context(kind, queries, keys, ex.prefix_len, ex.links if kind == "cross" else None),
                    )
                )
            heads = examples[0].weights[kind][layer].shape[0]
            totals: dict[str, Tally] = {}
            for tallies in per_example:
                for name, tally in tallies.items():
                    totals.setdefault(name, Tally(np.zeros(heads), 0.0, 0))
                    totals[name] += tally
            for h in range(heads):
                measures = {name: float(t.share()[h]) for name, t in totals.items()}
                baselines = {name: t.baseline / max(t.queries, 1) for name, t in totals.items()}
                v = verdict(measures, baselines, examples[0].axes(kind)[1].unit)
                scored = [(i, example_figure(t.get(v.measure), h)) for i, t in enumerate(per_example)]
                ranked = sorted(((i, f) for i, f in scored if f is not None), key=lambda pair: -pair[1])[:top]
                summaries.append(
                    HeadSummary(
                        kind,
                        layer + 1,
                        h + 1,
                        v.pattern,
                        v.measure,
                        v.figure,
                        v.sentence,
                        measures,
                        baselines,
                        v.others,
                        ranked,
                        unit=examples[0].axes(kind)[1].unit,
                    )
                )
    return summaries
