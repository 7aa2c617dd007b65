"""The training corpus, as the analysis uses it: token frequencies (rare-token heads) and word alignment."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from s2s.data.text.corpus import read_parallel
from s2s.errors import DataError


@dataclass
class TrainingCorpus:
    """Both sides of a parallel training corpus, in the model's token ids (no EOS)."""

    pairs: list[tuple[list[int], list[int]]]

    @classmethod
    def read(cls, tokenizer, source: Path, target: Path, limit: int | None = None) -> TrainingCorpus:
        sources, targets = read_parallel(source, target)
        if limit is not None:
            sources, targets = sources[:limit], targets[:limit]
        if not sources:
            raise DataError(f"{source} and {target} hold no sentence pairs")
        encode_target = getattr(tokenizer, "encode_target", tokenizer.encode)
        return cls([(tokenizer.encode(s), encode_target(t)) for s, t in zip(sources, targets)])

    def source_frequencies(self) -> dict[int, int]:
        """Token id -> how often it occurs in the training sources."""
        return dict(Counter(i for source, _ in self.pairs for i in source))
