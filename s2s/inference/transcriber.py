"""Transcribe (or translate) audio with a loaded speech checkpoint.

Long recordings are cut into overlapping windows (``window`` seconds, consecutive windows
sharing ``overlap`` seconds), every window of every file is decoded in length-sorted
batches, and each file's windows are merged back: the words that the end of one window and
the start of the next both heard are kept once. Each window gives one timed segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from s2s.checkpoint import LoadedModel
from s2s.data.speech.audio import FRAMES_PER_SECOND, SAMPLE_RATE, load_audio, log_mel
from s2s.data.batching import TokenBudgetBatchSampler
from s2s.data.speech.dataset import pad_features, task_tag
from s2s.decoding.suppression import never_first, never_generated
from s2s.decoding import DecodingOptions
from s2s.decoding.parallel import generate_parallel
from s2s.errors import AudioError

MAX_MERGE_WORDS = 12  # longest word overlap looked for between consecutive windows


@dataclass(frozen=True)
class Segment:
    start: float  # seconds
    end: float
    text: str


@dataclass
class Transcript:
    path: str
    text: str = ""
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0  # seconds
    error: str | None = None


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


class Transcriber:
    def __init__(self, loaded: LoadedModel, *, options: DecodingOptions, target_lang: str | None = None,
                 task: str | None = None, window: float = 20.0, overlap: float = 2.0, max_frames: int = 30000,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, workers: int = 1) -> None:
        """``workers``: on a CPU, decode each batch of windows with this many single-threaded workers
        (``s2s.decoding.parallel``)."""
        if loaded.model.config.encoder != "audio":
            raise ValueError("this checkpoint is a text model: use `s2s translate`")
        self.model = loaded.model.to(device=device, dtype=dtype).eval()
        self.tokenizer, self.options, self.device, self.dtype = loaded.tokenizer, options, device, dtype
        self.workers = workers
        info = loaded.info
        langs = info.get("tgt_langs") or ["en"]
        if target_lang is None and len(langs) > 1:
            raise ValueError(f"this model writes {langs}: choose one with --tgt-lang")
        target_lang = target_lang or langs[0]
        if target_lang not in langs:
            raise ValueError(f"this model writes {langs}, not {target_lang!r}")
        tag = task_tag(task or info.get("task_tag"), target_lang, info.get("src_lang") or "en")
        self.prefix = self.tokenizer.prefix(target_lang, tag)
        # A window must fit the encoder's positions after subsampling.
        capacity = self.model.encoder.subsample.frames_needed(self.model.config.max_positions) / FRAMES_PER_SECOND
        if not 0 <= overlap < window:
            raise ValueError(f"the overlap ({overlap} s) must be shorter than the window ({window} s)")
        if window > capacity:
            raise ValueError(f"--window {window} s exceeds what this model can encode at once ({capacity:.1f} s)")
        self.window, self.overlap, self.max_frames = window, overlap, max_frames

    def transcribe_files(self, paths: Iterable[str | Path], batch_files: int = 16) -> Iterator[Transcript]:
        """One :class:`Transcript` per path, in order; a file that cannot be read gets ``error`` set."""
        group: list[tuple[str, Tensor | None, str | None]] = []
        for path in paths:
            try:
                group.append((str(path), load_audio(path), None))
            except AudioError as error:
                group.append((str(path), None, str(error)))
            if len(group) == batch_files:
                yield from self.transcribe_group(group)
                group = []
        if group:
            yield from self.transcribe_group(group)

    def transcribe_group(self, group: list[tuple[str, Tensor | None, str | None]]) -> list[Transcript]:
        waves = [wave for _, wave, _ in group if wave is not None]
        results = iter(self.transcribe_waves(waves))
        return [Transcript(path, error=error) if wave is None else _with_path(next(results), path)
                for path, wave, error in group]

    def transcribe_waves(self, waves: list[Tensor]) -> list[Transcript]:
        """16 kHz mono waveforms ``(N,)`` -> transcripts (windows of all of them decoded together)."""
        spans = [windows(w.numel(), self.window, self.overlap) for w in waves]
        chunks = [(i, s, e) for i, file_spans in enumerate(spans) for s, e in file_spans]
        texts = self.decode_chunks([log_mel(waves[i][s:e]) for i, s, e in chunks])
        by_file: list[list[tuple[int, int, str]]] = [[] for _ in waves]
        for (i, s, e), text in zip(chunks, texts):
            by_file[i].append((s, e, text))
        transcripts = []
        for wave, pieces in zip(waves, by_file):
            parts = merge_texts([t for _, _, t in pieces])
            half = self.overlap / 2
            segments = []
            for n, ((s, e, _), part) in enumerate(zip(pieces, parts)):
                # Consecutive windows overlap: each segment ends halfway through the shared audio.
                start = s / SAMPLE_RATE + (half if n > 0 else 0.0)
                end = e / SAMPLE_RATE - (half if n < len(pieces) - 1 else 0.0)
                segments.append(Segment(round(start, 2), round(end, 2), part))
            text = " ".join(p for p in parts if p)
            transcripts.append(Transcript("", text, segments, round(wave.numel() / SAMPLE_RATE, 3)))
        return transcripts

    def decode_chunks(self, features: list[Tensor]) -> list[str]:
        texts = [""] * len(features)
        lengths = [(f.shape[0], f.shape[0]) for f in features]
        if not lengths:
            return texts
        budget = max(self.max_frames, max(n for n, _ in lengths))
        for batch in TokenBudgetBatchSampler(lengths, max_tokens=budget, shuffle=False):
            source, source_lengths = pad_features([features[i] for i in batch])  # (B, F, 80)
            prefix = torch.tensor([self.prefix] * len(batch))
            hyps = generate_parallel(self.model, source.to(self.device, self.dtype), source_lengths.to(self.device),
                                     prefix.to(self.device), options=self.options, eos_id=self.tokenizer.eos_id,
                                     suppress_ids=never_generated(self.tokenizer),
                                     suppress_at_start=never_first(self.tokenizer), workers=self.workers)
            for i, h in zip(batch, hyps):
                texts[i] = self.tokenizer.decode(h[0].tokens) if h else ""
        return texts


def _with_path(transcript: Transcript, path: str) -> Transcript:
    transcript.path = path
    return transcript
