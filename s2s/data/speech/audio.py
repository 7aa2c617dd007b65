"""Audio front end: any file soundfile reads -> 16 kHz mono -> 80-dim log-mel frames.

Every audio constant lives here, with its unit. Global mean/variance normalization uses
statistics computed once at prepare time (``cmvn.json``) and stored in the model's
buffers, so a checkpoint normalizes its own input. SpecAugment and speed perturbation are
training-time augmentations applied by the speech data module only.
"""

from __future__ import annotations

import io
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch import Tensor

from s2s.errors import AudioError

SAMPLE_RATE = 16_000  # Hz: everything is resampled to this
N_MELS = 80  # mel bands per frame
WIN_LENGTH = 400  # samples = 25 ms analysis window
HOP_LENGTH = 160  # samples = 10 ms between frames
N_FFT = 512  # FFT size (window zero-padded to it)
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH  # 100 feature frames per second
LOG_FLOOR = 1e-10  # power floor before the log: silence is log(1e-10), not -inf


def load_audio(path: str | Path) -> Tensor:
    """Read any format/rate/channel count soundfile supports -> ``(N,)`` float32 at ``SAMPLE_RATE``, mono.

    Channels are averaged. Raises :class:`AudioError` (one line, naming the file) when the
    file is missing, unreadable, not audio, or holds no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    return decode_audio(str(path), str(path))


def decode_audio(source: str | io.BytesIO, name: str) -> Tensor:
    """:func:`load_audio` of a path or of bytes in memory (an upload); errors name ``name``."""
    path = name
    try:
        data, rate = sf.read(source, dtype="float32", always_2d=True)  # (N, C)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as error:
        reason = reason_of(error)
        if "does not exist" in reason:  # libsndfile's words when no decoder recognizes the bytes
            reason = "unrecognized or damaged audio data"
        raise AudioError(f"{path}: not a readable audio file ({reason})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no audio samples")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))  # (N,) mono
    if not torch.isfinite(wave).all():
        raise AudioError(f"{path}: the audio contains NaN or infinite samples")
    return resample(wave, rate)


def decode_upload(data: bytes, name: str) -> Tensor:
    """:func:`decode_audio` of uploaded bytes, refusing a WAV cut short: libsndfile would read the
    samples that arrived and say nothing, and the rest of the recording would be silently missing."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        promised, held = wav_data_sizes(data)
        if promised is not None and promised > held:
            raise AudioError(f"{name}: truncated WAV: its header promises {promised} bytes of audio, "
                             f"the upload holds {held}")
    return decode_audio(io.BytesIO(data), name)


def wav_data_sizes(data: bytes) -> tuple[int | None, int]:
    """``(bytes the 'data' chunk header promises, bytes present after it)``; None where it promises no
    size (0 or 0xFFFFFFFF: a stream written before its length was known)."""
    position = 12
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], int.from_bytes(data[position + 4:position + 8], "little")
        if chunk == b"data":
            return (None if size in (0, 0xFFFFFFFF) else size), len(data) - position - 8
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    return None, 0


def resample(wave: Tensor, rate: int, target: int = SAMPLE_RATE) -> Tensor:
    """``(N,)`` at ``rate`` Hz -> ``(N',)`` at ``target`` Hz (band-limited sinc interpolation)."""
    if rate == target:
        return wave
    return torchaudio.functional.resample(wave, int(rate), int(target))


def speed_perturb(wave: Tensor, factor: float) -> Tensor:
    """Play ``wave`` ``factor`` times faster (pitch moves with it, as in Kaldi's speed perturbation).

    Treating 16 kHz audio as if it were recorded at ``factor * 16`` kHz and resampling back
    to 16 kHz shortens it by ``factor``.
    """
    if factor == 1.0:
        return wave
    return torchaudio.functional.resample(wave, round(SAMPLE_RATE * factor), SAMPLE_RATE)


def num_frames(num_samples: int) -> int:
    """Feature frames of ``num_samples`` samples (centred windows: one frame per hop, plus one)."""
    return num_samples // HOP_LENGTH + 1


class LogMel:
    """``(N,)`` 16 kHz waveform -> ``(F, N_MELS)`` log-mel features, ``F = num_frames(N)``."""

    def __init__(self) -> None:
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=WIN_LENGTH, hop_length=HOP_LENGTH, n_mels=N_MELS,
            center=True, power=2.0,
        )

    @torch.no_grad()
    def __call__(self, wave: Tensor) -> Tensor:
        frames = num_frames(wave.numel())
        if wave.numel() < N_FFT // 2 + 1:  # reflect padding needs a few samples; pad tiny inputs with silence
            wave = torch.nn.functional.pad(wave, (0, N_FFT // 2 + 1 - wave.numel()))
        power = self.mel(wave.float())[:, :frames]  # (N_MELS, F)
        return power.clamp(min=LOG_FLOOR).log().T.contiguous()  # (F, N_MELS)


_LOG_MEL: LogMel | None = None


def log_mel(wave: Tensor) -> Tensor:
    """Log-mel features ``(F, N_MELS)`` of a 16 kHz waveform ``(N,)``."""
    global _LOG_MEL
    if _LOG_MEL is None:
        _LOG_MEL = LogMel()
    return _LOG_MEL(wave)


@dataclass(frozen=True)
class FeatureStats:
    """Global per-dimension mean and standard deviation of the training features."""

    mean: list[float]
    std: list[float]
    frames: int

    @classmethod
    def compute(cls, features: list[Tensor] | object) -> "FeatureStats":
        """Accumulate over ``(F, N_MELS)`` feature matrices (in float64 for a stable variance)."""
        total = torch.zeros(N_MELS, dtype=torch.float64)
        squares = torch.zeros(N_MELS, dtype=torch.float64)
        frames = 0
        for feats in features:
            feats = feats.double()
            total += feats.sum(0)
            squares += (feats**2).sum(0)
            frames += feats.shape[0]
        if frames == 0:
            raise AudioError("no audio frames to compute normalization statistics from")
        mean = total / frames
        std = (squares / frames - mean**2).clamp(min=1e-8).sqrt()
        return cls(mean.tolist(), std.tolist(), frames)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"mean": self.mean, "std": self.std, "frames": self.frames}) + "\n")

    @classmethod
    def load(cls, path: Path) -> "FeatureStats":
        data = json.loads(Path(path).read_text())
        if len(data["mean"]) != N_MELS or len(data["std"]) != N_MELS:
            raise AudioError(f"{path}: statistics of {len(data['mean'])} dimensions, expected {N_MELS}")
        return cls(list(data["mean"]), list(data["std"]), int(data["frames"]))


@dataclass(frozen=True)
class SpecAugment:
    """Frequency and time masks (Park et al. 2019), each example masked within its own length.

    Masks are applied to raw log-mel features and filled with the global mean, which is 0
    after the model's normalization. Time-mask width is capped at ``time_ratio`` of the
    example's length, so short utterances are not wiped out.
    """

    freq_masks: int = 2
    freq_width: int = 27  # bins: the widest frequency mask
    time_masks: int = 2
    time_width: int = 40  # frames: the widest time mask (0.4 s)
    time_ratio: float = 0.2

    def __call__(self, feats: Tensor, fill: Tensor, rng: random.Random) -> Tensor:
        """``feats (F, N_MELS)`` -> a masked copy; ``fill (N_MELS,)``."""
        feats = feats.clone()
        length, dims = feats.shape
        for _ in range(self.freq_masks):
            width = rng.randint(0, min(self.freq_width, dims))
            start = rng.randint(0, dims - width)
            feats[:, start : start + width] = fill[start : start + width]
        max_time = min(self.time_width, int(self.time_ratio * length))
        for _ in range(self.time_masks):
            width = rng.randint(0, max_time)
            start = rng.randint(0, length - width)
            feats[start : start + width] = fill
        return feats


def duration_of(path: Path) -> float:
    """Seconds of audio in ``path``, from the header (no decoding)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable audio file ({reason_of(error)})") from None
    return info.frames / info.samplerate if info.samplerate else math.nan


def reason_of(error: Exception) -> str:
    """libsndfile's own one-line reason, without the file name it repeats."""
    reason = getattr(error, "error_string", None) or str(error) or type(error).__name__
    return " ".join(reason.split())[:120]
