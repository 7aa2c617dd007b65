"""The ids a model must never generate, as a property of its tokenizer: every decoding front end
(translate, transcribe, validation, analysis, the benchmarks) reads them from there."""

from __future__ import annotations

import functools


class GenerationBans:
    """Mixed into each tokenizer class; ``pad_id``, ``bos_id`` and ``tag_ids`` are the tokenizer's."""

    non_speech_ids: tuple[int, ...] = ()  # a Whisper model's annotations ("(music)", "♪"), banned like tags
    never_first: tuple[int, ...] = ()  # banned as the first generated token only (Whisper's suppress_blank)

    @functools.cached_property
    def never_generated(self) -> tuple[int, ...]:
        """Padding, BOS, every task/language/timestamp tag and the non-speech tokens."""
        return tuple(sorted({self.pad_id, self.bos_id, *self.tag_ids, *self.non_speech_ids}))
