"""A finished output: its tokens, ranking score and total log-probability."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated tokens, prefix and EOS excluded
    score: float  # logprob / length penalty: what beams are ranked by
    logprob: float  # sum of the generated tokens' log-probabilities, EOS included


def best_first(hypotheses: list[Hypothesis], n: int) -> list[Hypothesis]:
    return sorted(hypotheses, key=lambda h: h.score, reverse=True)[:n]
