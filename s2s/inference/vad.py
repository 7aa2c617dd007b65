"""Voice-activity segmentation: cut a recording where people pause, not every ``window`` seconds.

Silero VAD (the ``silero-vad`` package, whose TorchScript model ships inside it: nothing is
downloaded) gives the speech regions of a 16 kHz recording. Each region is widened by ``pad``
seconds on both sides, regions closer than ``min_silence`` are one region, and a region longer
than what the model reads at once is split by Silero at its longest inner pause. Consecutive
regions are then packed into windows of at most ``max_seconds``: a window is the regions' audio
joined with ``JOIN_GAP`` of digital silence between them, whatever lay between them left out (as
faster-whisper does, which joins them with none), so the model never reads a long silence, or
noise, yet still hears where one stretch of speech ends; a time inside a window maps back to the
recording through its pieces (:meth:`VadWindow.to_recording`). No speech: no window, no text.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from s2s.data.speech.audio import SAMPLE_RATE

SILERO_WINDOW = 512  # samples (32 ms) Silero scores at a time at 16 kHz
JOIN_GAP = 8_000  # samples (0.5 s) of silence between two pieces of speech in one window
# Silero misses speech that starts in its first frames (its state needs a lead-in): 1 in 5 of FSDD's
# tightly trimmed digits without it, 1 in 100 with 0.5 s of silence before and after.
LEAD_IN = 8_000  # samples


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # speech probability above which a 32 ms frame is speech
    min_silence: float = 0.5  # s: shorter pauses do not end a region
    pad: float = 0.2  # s of audio kept before and after each region
    min_speech: float = 0.1  # s: shorter regions are dropped (clicks)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"--vad-threshold must be between 0 and 1, got {self.threshold}")
        for name in ("min_silence", "pad", "min_speech"):
            if getattr(self, name) < 0:
                raise ValueError(f"--vad-{name.replace('_', '-')} must be >= 0 seconds, got {getattr(self, name)}")


@dataclass(frozen=True)
class VadWindow:
    """One decoding window: speech pieces ``(start, end)`` in samples of the recording, joined in order."""

    pieces: tuple[tuple[int, int], ...]

    @property
    def start(self) -> float:
        return self.pieces[0][0] / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.pieces[-1][1] / SAMPLE_RATE

    @property
    def samples(self) -> int:
        """Samples the model reads: the pieces and the gaps between them."""
        return sum(e - s for s, e in self.pieces) + JOIN_GAP * (len(self.pieces) - 1)

    def audio(self, wave: Tensor) -> Tensor:
        """The window's samples ``(n,)``: its pieces of ``wave (N,)``, ``JOIN_GAP`` of silence between two."""
        gap = wave.new_zeros(JOIN_GAP)
        parts = [part for s, e in self.pieces for part in (gap, wave[s:e])][1:]
        return torch.cat(parts)

    def to_recording(self, seconds: float) -> float:
        """A time in the joined window -> the same instant in the recording (a time in a gap: the end of
        the piece before it; clamped into the window)."""
        at = max(seconds, 0.0) * SAMPLE_RATE
        for n, (s, e) in enumerate(self.pieces):
            if n > 0:
                if at < JOIN_GAP:
                    return self.pieces[n - 1][1] / SAMPLE_RATE
                at -= JOIN_GAP
            if at <= e - s:
                return (s + at) / SAMPLE_RATE
            at -= e - s
        return self.end


@functools.cache
def silero_model():
    """The Silero VAD TorchScript model shipped in the ``silero-vad`` package (loaded once per process)."""
    try:
        from silero_vad import load_silero_vad
    except ImportError:
        raise ValueError(
            "voice-activity segmentation needs the silero-vad package: pip install silero-vad (or pass --no-vad)"
        ) from None
    with warnings.catch_warnings():  # torch.jit.load's deprecation notice, not ours to act on
        warnings.simplefilter("ignore", FutureWarning)
        return load_silero_vad(onnx=False)


def speech_regions(wave: Tensor, options: VadOptions, max_seconds: float = float("inf")) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of speech in a 16 kHz ``wave (N,)``, padded, none longer than ``max_seconds``."""
    from silero_vad import get_speech_timestamps

    if wave.numel() < SILERO_WINDOW:
        return []
    model = silero_model()
    model.reset_states()
    padded = torch.nn.functional.pad(wave.float(), (LEAD_IN, LEAD_IN))
    with torch.inference_mode():
        found = get_speech_timestamps(
            padded,
            model,
            threshold=options.threshold,
            sampling_rate=SAMPLE_RATE,
            min_speech_duration_ms=round(options.min_speech * 1000),
            min_silence_duration_ms=round(options.min_silence * 1000),
            speech_pad_ms=round(options.pad * 1000),
            # Silero pads after splitting: keep room for both pads inside the window
            max_speech_duration_s=max(max_seconds - 2 * options.pad, 1.0),
        )
    regions = [(max(int(r["start"]) - LEAD_IN, 0), min(int(r["end"]) - LEAD_IN, wave.numel())) for r in found]
    return [(s, e) for s, e in regions if e > s]


def pack_regions(regions: list[tuple[int, int]], max_seconds: float) -> list[VadWindow]:
    """Consecutive regions joined into windows of at most ``max_seconds`` of audio; a longer region is cut."""
    limit = int(max_seconds * SAMPLE_RATE)
    windows: list[VadWindow] = []
    pieces: list[tuple[int, int]] = []
    held = 0
    for start, end in regions:
        while end - start > limit:  # only if Silero could not split it: hard cuts
            if pieces:
                windows.append(VadWindow(tuple(pieces)))
                pieces, held = [], 0
            windows.append(VadWindow(((start, start + limit),)))
            start += limit
        if pieces and held + JOIN_GAP + end - start > limit:
            windows.append(VadWindow(tuple(pieces)))
            pieces, held = [], 0
        held += end - start + (JOIN_GAP if pieces else 0)
        pieces.append((start, end))
    if pieces:
        windows.append(VadWindow(tuple(pieces)))
    return windows


def vad_windows(wave: Tensor, options: VadOptions, max_seconds: float) -> list[VadWindow]:
    """The decoding windows of a recording: its speech, packed into windows of at most ``max_seconds``."""
    return pack_regions(speech_regions(wave, options, max_seconds), max_seconds)
