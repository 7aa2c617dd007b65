"""Timed pieces of a transcript: words and segments, and how a VAD window's times map to the recording."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from s2s.inference.vad import VadWindow


@dataclass(frozen=True)
class Word:
    start: float  # seconds
    end: float
    word: str
    probability: float  # the model's confidence in the word's tokens (their mean probability)


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Decoded:
    """One window's output: tokens (timestamps among them when asked for), their log-probability, its words."""

    tokens: list[int]
    logprob: float = 0.0
    words: tuple[Word, ...] = ()  # times in the window's own seconds


def shift_words(words: tuple[Word, ...], to_recording) -> tuple[Word, ...]:
    """Words timed in a window -> timed in the recording (``to_recording``: seconds -> seconds)."""
    return tuple(replace(w, start=round(to_recording(w.start), 3), end=round(to_recording(w.end), 3)) for w in words)


def words_within(words: tuple[Word, ...], start: float, end: float) -> tuple[Word, ...]:
    """The words whose middle lies in ``[start, end)``."""
    return tuple(w for w in words if start <= (w.start + w.end) / 2 < end)


def vad_segments(windows: list[tuple[VadWindow, Decoded]], tokenizer, timestamps: bool) -> list[Segment]:
    """Segments of a recording decoded in VAD windows: one per window, or the model's own timed segments
    (``timestamps``), every time mapped back from the joined speech to the recording."""
    segments = []
    for window, out in windows:
        words = shift_words(out.words, window.to_recording)
        if not timestamps:
            text = tokenizer.decode(out.tokens)
            segments.append(Segment(round(window.start, 2), round(window.end, 2), text, words))
            continue
        timed = tokenizer.decode_with_timestamps(out.tokens)
        for n, (start, end, text) in enumerate(timed):
            # a word belongs to the segment its middle falls in; the last segment takes what follows
            upper = float("inf") if n == len(timed) - 1 else end
            lower = float("-inf") if n == 0 else start
            inside = tuple(w for w, own in zip(words, out.words) if lower <= (own.start + own.end) / 2 < upper)
            segments.append(
                Segment(round(window.to_recording(start), 2), round(window.to_recording(end), 2), text.strip(), inside)
            )
    return segments


@dataclass
class Transcript:
    path: str
    text: str = ""
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0  # seconds
    error: str | None = None
