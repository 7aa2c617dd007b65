"""Recordings whose word times are known: real utterances and synthesized words placed at chosen offsets.

- ``espeak_sentence``: each word synthesized alone by espeak-ng, trimmed to its sound, joined with
  short pauses: every word's start is known to the sample.
- ``joined``: real recordings (AN4 utterances, FSDD digits) between stretches of silence or of noise
  at the recordings' own background level; each recording's start is known, and its speech onset
  (the first 10 ms frame above a tenth of its loudest) is the start of its first word.
- ``word_start_errors``: how far the words a transcriber timed start from the known starts.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2s.data.speech.audio import SAMPLE_RATE, load_audio

FRAME = 160  # samples: 10 ms


def onset(wave: torch.Tensor) -> int:
    """First sample of the first 10 ms frame louder than a tenth of the loudest frame."""
    frames = wave[: wave.numel() // FRAME * FRAME].view(-1, FRAME)
    rms = frames.pow(2).mean(dim=1).sqrt()
    return int((rms > 0.1 * rms.max()).nonzero()[0]) * FRAME


def pink_noise(samples: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    scale = np.arange(len(spectrum), dtype=np.float64)
    scale[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(scale), samples)
    return (rms * noise / noise.std()).astype(np.float32)


def noise_floor(waves: list[torch.Tensor]) -> float:
    """The recordings' background level: RMS of their quietest 10 % of 32 ms frames."""
    frames = torch.cat([w[: w.numel() // 512 * 512].view(-1, 512) for w in waves])
    rms = frames.pow(2).mean(dim=1).sqrt().sort().values
    return float(rms[: max(1, len(rms) // 10)].mean())


@dataclass
class Recording:
    wave: torch.Tensor  # (N,) 16 kHz
    words: list[tuple[str, float]]  # (word, start s) known
    spans: list[tuple[float, float]]  # each joined recording's (start, end) s
    texts: list[str]  # each joined recording's reference text


def espeak_word(word: str, voice: str = "en-us") -> torch.Tensor:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "w.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), word], check=True, capture_output=True)
        wave = load_audio(path)
    loud = (wave.abs() > 0.02 * wave.abs().max()).nonzero()
    return wave[int(loud[0]) : int(loud[-1]) + 1]


def espeak_sentences(sentences: list[str], rng: np.random.Generator) -> Recording:
    """Sentences of words synthesized one by one: 0.1-0.3 s between words, 1-3 s of silence between sentences."""
    parts, words, spans, at = [np.zeros(SAMPLE_RATE // 2, np.float32)], [], [], SAMPLE_RATE // 2
    for sentence in sentences:
        begin = at
        for k, word in enumerate(sentence.split()):
            if k:
                gap = int(rng.uniform(0.1, 0.3) * SAMPLE_RATE)
                parts.append(np.zeros(gap, np.float32))
                at += gap
            wave = espeak_word(word).numpy()
            words.append((word, at / SAMPLE_RATE))
            parts.append(wave)
            at += len(wave)
        spans.append((begin / SAMPLE_RATE, at / SAMPLE_RATE))
        gap = int(rng.uniform(1.0, 3.0) * SAMPLE_RATE)
        parts.append(np.zeros(gap, np.float32))
        at += gap
    return Recording(torch.from_numpy(np.concatenate(parts)), words, spans, sentences)


def joined(
    waves: list[torch.Tensor], texts: list[str], gap: tuple[float, float], noise: bool, rng: np.random.Generator
) -> Recording:
    """Recordings between gaps of ``gap`` seconds (uniform), of silence or of pink noise at their background level."""
    level = noise_floor(waves)

    def filler(seconds: float) -> np.ndarray:
        samples = int(seconds * SAMPLE_RATE)
        return pink_noise(samples, level, rng) if noise else np.zeros(samples, np.float32)

    parts, words, spans, at = [], [], [], 0
    for wave, text in zip(waves, texts):
        pause = filler(rng.uniform(*gap))
        parts += [pause, wave.numpy()]
        at += len(pause)
        words.append((text.split()[0], (at + onset(wave)) / SAMPLE_RATE))
        spans.append((at / SAMPLE_RATE, (at + wave.numel()) / SAMPLE_RATE))
        at += wave.numel()
    parts.append(filler(rng.uniform(*gap)))
    return Recording(torch.from_numpy(np.concatenate(parts)), words, spans, texts)


MATCH_WINDOW = 1.0  # s: a timed word further than this from a known word of its spelling is not that word


def word_start_errors(timed: list[tuple[str, float]], known: list[tuple[str, float]], normalize) -> list[float]:
    """Milliseconds between each known word's start and the start of the timed word matched to it: the
    nearest timed word of the same normalized spelling within ``MATCH_WINDOW``, each used once (a
    known word without one is a miss, not an error; the caller reports how many matched)."""
    free = [(normalize(w), start) for w, start in timed]
    errors = []
    for word, start in known:
        word = normalize(word)
        near = [(abs(s - start), n) for n, (w, s) in enumerate(free) if w == word and abs(s - start) <= MATCH_WINDOW]
        if near:
            distance, n = min(near)
            errors.append(distance * 1000)
            free[n] = (None, float("nan"))
    return errors


def first_word_errors(timed: list[tuple[str, float, float]], recording: Recording) -> list[float]:
    """Milliseconds between each joined recording's speech onset and the first timed word that starts in
    it (from half a second before it to its end), whatever its spelling."""
    errors = []
    for (start, end), (_, known) in zip(recording.spans, recording.words):
        inside = [w for w in timed if start - 0.5 <= w[1] < end]
        if inside:
            errors.append(abs(inside[0][1] - known) * 1000)
    return errors


def summary(errors: list[float]) -> tuple[float, float, int]:
    """Mean and 95th percentile (ms) and count."""
    if not errors:
        return float("nan"), float("nan"), 0
    return float(np.mean(errors)), float(np.percentile(errors, 95)), len(errors)
