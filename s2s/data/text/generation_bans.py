"""The ids a model must never generate, as a property of its tokenizer: every decoding front end
(translate, transcribe, validation, analysis, the benchmarks) reads them from there."""

from __future__ import annotations

import functools


class GenerationBans:
    """Mixed into each tokenizer class; ``pad_id``, ``bos_id`` and ``tag_ids`` are the tokenizer's."""

    pad_id: int
    bos_id: int

    @property
    def tag_ids(self) -> frozenset[int]:
        """The tokenizer's prefix tags, never part of the output text; each tokenizer class defines them."""
        raise NotImplementedError

    @property
    def non_speech_ids(self) -> tuple[int, ...]:
        """A Whisper model's annotations ("(music)", "♪"), banned like tags."""
        return ()

    @property
    def never_first(self) -> tuple[int, ...]:
        """Banned as the first generated token only (Whisper's suppress_blank)."""
        return ()

    @functools.cached_property
    def never_generated(self) -> tuple[int, ...]:
        """Padding, BOS, every task/language/timestamp tag and the non-speech tokens."""
        return tuple(sorted({self.pad_id, self.bos_id, *self.tag_ids, *self.non_speech_ids}))
