"""DecodingOptions: every knob of a decoding run, frozen and validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass

LENGTH_PENALTIES = ("plain", "gnmt")


@dataclass(frozen=True)
class DecodingOptions:
    """How to turn a source into output tokens.

    Length penalty: a finished hypothesis of ``n`` generated tokens (EOS included) with total
    log-probability ``s`` is ranked by ``s / lp(n)`` where
        plain: ``lp(n) = n ** alpha``                      (fairseq, Hugging Face)
        gnmt:  ``lp(n) = ((5 + n) / 6) ** alpha``          (Wu et al. 2016, Google NMT)
    ``alpha = 0`` ranks by raw log-probability (favours short outputs); ``alpha = 1`` by the
    average per-token log-probability.

    Maximum length: sentence ``i`` with source length ``S_i`` may generate at most
    ``floor(max_len_a * S_i + max_len_b)`` tokens (EOS included); each sentence has its own
    limit, so its output never depends on the other sentences in the batch.
    """

    beam_size: int = 1
    nbest: int = 1
    length_penalty: float = 1.0  # alpha
    length_penalty_style: str = "plain"
    max_len_a: float = 1.5
    max_len_b: int = 10
    min_len: int = 0
    no_repeat_ngram: int = 0
    sampling: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0 = no top-k cut
    top_p: float = 1.0  # 1 = no nucleus cut
    seed: int | None = None
    ctc_weight: float = 0.0  # joint CTC/attention: weight of the CTC prefix score (needs a CTC head)

    def __post_init__(self) -> None:
        checks = [
            (self.beam_size >= 1, f"beam_size must be >= 1, got {self.beam_size}"),
            (
                1 <= self.nbest <= self.beam_size,
                f"nbest must be between 1 and beam_size={self.beam_size}, got {self.nbest}",
            ),
            (
                self.length_penalty_style in LENGTH_PENALTIES,
                f"length_penalty_style must be one of {LENGTH_PENALTIES}, got {self.length_penalty_style!r}",
            ),
            (self.max_len_a >= 0 and self.max_len_b >= 1, "max_len_a must be >= 0 and max_len_b >= 1"),
            (self.min_len >= 0, f"min_len must be >= 0, got {self.min_len}"),
            (self.no_repeat_ngram >= 0, f"no_repeat_ngram must be >= 0, got {self.no_repeat_ngram}"),
            (self.temperature > 0, f"temperature must be > 0, got {self.temperature}"),
            (self.top_k >= 0, f"top_k must be >= 0, got {self.top_k}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (not (self.sampling and self.beam_size > 1), "sampling is done with beam_size 1"),
            (0.0 <= self.ctc_weight < 1.0, f"ctc_weight must be in [0, 1), got {self.ctc_weight}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def length_penalty_of(self, length: int) -> float:
        """``lp(n)`` above."""
        if self.length_penalty_style == "gnmt":
            return ((5.0 + length) / 6.0) ** self.length_penalty
        return math.pow(length, self.length_penalty)
