"""The measures and the verdict on attention patterns built by hand (no model involved)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from s2s.analysis.collect import ExampleAttention
from s2s.analysis.heads import pct, summarize, verdict
from s2s.analysis.inputs import Axis
from s2s.analysis.measures import Context, measure
from s2s.analysis.report import write_report

# "A man rides a bicycle ." in pieces: "bi cycle" is one word in two pieces, "." is punctuation.
SOURCE = ["▁A", "▁man", "▁rides", "▁a", "▁bi", "cycle", "▁.", "</s>"]
TARGET = ["<s>", "<2de>", "▁Ein", "▁Mann", "▁fährt", "▁Fahr", "rad", "▁."]
PREFIX = 2


def source_axis() -> Axis:
    return Axis.from_pieces(SOURCE, [False] * 7 + [True], eos=7)


def target_axis() -> Axis:
    return Axis.from_pieces(TARGET, [True, True] + [False] * 6)


def rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / matrix.sum(axis=-1, keepdims=True)


def onto(tq: int, tk: int, key_of) -> np.ndarray:
    """Each query puts all attention on ``key_of(q)`` (a position or a list of positions)."""
    w = np.full((tq, tk), 1e-6)
    for q in range(tq):
        keys = key_of(q)
        w[q, keys] = 1.0
    return rows(w)


def causal(w: np.ndarray) -> np.ndarray:
    return rows(np.tril(w) + np.tril(np.full_like(w, 1e-9)))


def mix(w: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` of the pattern, the rest spread uniformly over the same visible keys."""
    visible = (w > 0).astype(float)
    return strength * w + (1 - strength) * rows(visible)


S, T = len(SOURCE), len(TARGET)
PUNCT_S = [i for i, p in enumerate(SOURCE) if p == "▁."]
WORD_S = {4: [5], 5: [4]}
WORD_T = {5: [6], 6: [5]}

ENCODER = {
    "previous": onto(S, S, lambda q: max(q - 1, 0)),
    "same": onto(S, S, lambda q: q),
    "next": onto(S, S, lambda q: min(q + 1, S - 1)),
    "first": onto(S, S, lambda q: 0),
    "eos": onto(S, S, lambda q: S - 1),
    "punctuation": onto(S, S, lambda q: PUNCT_S if q != PUNCT_S[0] else q),
    "same_word": onto(S, S, lambda q: WORD_S.get(q, q)),
    "broad": rows(np.ones((S, S))),
}
DECODER = {
    "previous": causal(onto(T, T, lambda q: max(q - 1, 0))),
    "same": causal(onto(T, T, lambda q: q)),
    "first": causal(onto(T, T, lambda q: 0)),
    "same_word": causal(onto(T, T, lambda q: WORD_T.get(q, [q])[0] if q == 6 else q)),
    "broad": causal(np.ones((T, T))),
}
# Output position q (from the last prefix position on) is aligned with source (q-1)·(S-1)/(T-2).
CROSS = {
    "monotonic": onto(T, S, lambda q: int(round(max(q - 1, 0) * (S - 1) / (T - 2)))),
    "first": onto(T, S, lambda q: 0),
    "eos": onto(T, S, lambda q: S - 1),
    "punctuation": onto(T, S, lambda q: PUNCT_S),
    "broad": rows(np.ones((T, S))),
}


def heads(patterns: dict[str, np.ndarray], strength: float = 1.0) -> np.ndarray:
    return np.stack([mix(w, strength) for w in patterns.values()])  # (H, Tq, Tk)


def example(strength: float = 1.0) -> ExampleAttention:
    weights = {
        "encoder": [heads(ENCODER, strength)],
        "decoder": [heads(DECODER, strength)],
        "cross": [heads(CROSS, strength)],
    }
    return ExampleAttention(
        "A man rides a bicycle.", "Ein Mann fährt Fahrrad.", source_axis(), target_axis(), PREFIX, weights
    )


def named(summaries, kind: str) -> list[str]:
    return [s.pattern for s in summaries if s.kind == kind]


def test_axis_words_and_punctuation():
    axis = source_axis()
    assert axis.words == (0, 1, 2, 3, 4, 4, -1, -1)
    assert axis.punctuation == (False,) * 6 + (True, False)


@pytest.mark.parametrize("strength", [1.0, 0.7])
def test_each_built_pattern_is_named(strength):
    summaries = summarize([example(strength)], top=1)
    assert named(summaries, "encoder") == list(ENCODER)
    assert named(summaries, "decoder") == list(DECODER)
    assert named(summaries, "cross") == list(CROSS)


def test_figures_are_the_built_shares():
    pure = {(s.kind, s.pattern): s.figure for s in summarize([example(1.0)])}
    assert pure[("encoder", "previous")] == pytest.approx(1.0, abs=1e-4)
    assert pure[("cross", "monotonic")] == pytest.approx(1.0, abs=1e-4)
    assert pure[("encoder", "broad")] == pytest.approx(1.0, abs=1e-6)  # normalized entropy of uniform
    mixed = {(s.kind, s.pattern): s for s in summarize([example(0.7)])}
    # 70% on the previous token plus 30% spread uniformly over S keys
    assert mixed[("encoder", "previous")].figure == pytest.approx(0.7 + 0.3 / S, abs=1e-4)
    assert mixed[("encoder", "previous")].baselines["previous"] == pytest.approx(1 / S)


def test_weak_patterns_are_not_claimed():
    # 20% on the first token is over uniform's share but under MIN_SHARE: no pattern, fairly broad.
    w = mix(ENCODER["first"], 0.2)[None]
    tallies = measure(w, Context("encoder", source_axis(), source_axis()))
    measures = {name: float(t.share()[0]) for name, t in tallies.items()}
    baselines = {name: t.baseline / t.queries for name, t in tallies.items()}
    assert verdict(measures, baselines).pattern in ("broad", "mixed")


def test_below_chance_is_not_called_a_lift():
    # concentrated attention (low entropy) on positions no measure names: every share under its baseline
    v = verdict({"previous": 0.05, "first": 0.04, "entropy": 0.3}, {"previous": 0.1, "first": 0.1})
    assert v.pattern == "mixed" and "no measured position gets more of it than uniform attention" in v.sentence
    v = verdict({"previous": 0.25, "first": 0.04, "entropy": 0.3}, {"previous": 0.1, "first": 0.1})
    assert v.pattern == "mixed" and v.measure == "previous" and "the largest lift is the previous token" in v.sentence


def test_decoder_measures_respect_the_causal_mask():
    tallies = measure(DECODER["broad"][None], Context("decoder", target_axis(), target_axis(), PREFIX))
    assert "next" not in tallies and "eos" not in tallies
    # uniform over the visible past: the previous token's share equals its baseline exactly
    assert tallies["previous"].share()[0] == pytest.approx(tallies["previous"].baseline / tallies["previous"].queries)


def test_examples_are_ranked_by_the_heads_figure():
    strong, weak = example(1.0), example(0.5)
    summaries = summarize([weak, strong], top=2)
    previous = next(s for s in summaries if s.kind == "encoder" and s.pattern == "previous")
    assert [index for index, _ in previous.examples] == [1, 0]
    assert previous.examples[0][1] > previous.examples[1][1]


def test_report_has_the_template_shape(tmp_path):
    examples = [example(1.0), example(0.6)]
    summaries = summarize(examples, top=2)
    files = write_report(summaries, examples, tmp_path, meta={"test": True})
    text = files.markdown.read_text(encoding="utf-8")
    assert text.startswith("# Analysis\n\n## Summary\n")  # the table of every head, then one section each
    summary, *sections = text.split("\n## ")[1:]
    assert sections[0].startswith("Layer 1, Head 1 (encoder self-attention)\n")
    assert summary.count("\n| ") == 1 + len(sections)  # header and one row per head
    assert len(sections) == len(ENCODER) + len(DECODER) + len(CROSS)
    heading = re.compile(r"^Layer \d+, Head \d+ \((encoder self-attention|decoder self-attention|cross-attention)\)$")
    for section in sections:
        lines = section.splitlines()
        assert heading.match(lines[0]), lines[0]
        assert "Example Sentences:" in lines
        bullets = lines[lines.index("Example Sentences:") + 1 :]
        assert len(bullets) == 2 and all(b.startswith("- ") for b in bullets)
        for link in re.findall(r"\]\((heatmaps/[^)]+\.png)\)", section):
            assert (tmp_path / link).stat().st_size > 1000
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert len(data["heads"]) == len(sections)
    first = data["heads"][0]
    both = (1.0 + 0.6 + 0.4 / S) / 2  # the two examples have as many queries each
    assert first["pattern"] == "previous" and first["measures"]["previous"] == pytest.approx(both, abs=1e-3)
    assert f"Previous token: {pct(first['figure'])} of attention on the previous token (uniform" in text
    assert first["examples"][0]["heatmap"] == "heatmaps/encoder-L1-H1-1.png"
