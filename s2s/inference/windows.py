"""Fixed overlapping windows over a long recording, and the words two neighbouring windows both heard."""

from __future__ import annotations

from s2s.data.speech.audio import SAMPLE_RATE

MAX_MERGE_WORDS = 12  # longest word overlap looked for between consecutive windows


def windows(num_samples: int, window: float, overlap: float) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges covering ``num_samples`` with windows of ``window`` s sharing ``overlap`` s."""
    size, step = int(window * SAMPLE_RATE), int((window - overlap) * SAMPLE_RATE)
    if num_samples <= size:
        return [(0, num_samples)]
    spans, start = [], 0
    while True:
        end = min(start + size, num_samples)
        spans.append((start, end))
        if end == num_samples:
            return spans
        start += step


def merge_texts(texts: list[str]) -> list[str]:
    """Drop from each window's words the longest prefix that repeats the previous window's suffix."""
    merged: list[str] = []
    previous: list[str] = []
    for text in texts:
        words = text.split()
        overlap = 0
        for k in range(min(len(previous), len(words), MAX_MERGE_WORDS), 0, -1):
            if previous[-k:] == words[:k]:
                overlap = k
                break
        merged.append(" ".join(words[overlap:]))
        previous = words
    return merged
