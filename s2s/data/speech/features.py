"""The features an audio model reads, chosen by ``ModelConfig.features``.

``log_mel`` is s2s's own (``s2s.data.speech.audio.LogMel``: natural-log mel power over 512-point
FFTs; the model normalizes it with its training set's statistics). ``whisper`` is Whisper's: a
400-point FFT every 160 samples, Slaney mel filters, ``log10`` of the power clamped to 8 below
the recording's loudest value (so silence and padding sit at one floor); the model's fixed
normalization buffers then apply Whisper's ``(x + 4) / 4``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchaudio
from torch import Tensor

from s2s.data.speech.audio import HOP_LENGTH, LOG_FLOOR, SAMPLE_RATE, log_mel

WHISPER_N_FFT = 400  # samples = 25 ms, no zero-padding of the window
WHISPER_DYNAMIC_RANGE = 8.0  # log10 units kept below the loudest frame (80 dB)
WHISPER_MEAN, WHISPER_STD = -4.0, 4.0  # Whisper's (x + 4) / 4, as the model's normalization buffers


class WhisperLogMel:
    """``(N,)`` 16 kHz waveform -> ``(N // 160, n_mels)`` Whisper log-mel features (before ``(x + 4) / 4``)."""

    def __init__(self, n_mels: int) -> None:
        self.window = torch.hann_window(WHISPER_N_FFT)
        self.filters = torchaudio.functional.melscale_fbanks(  # (201, n_mels): librosa's default mel filters
            WHISPER_N_FFT // 2 + 1, f_min=0.0, f_max=SAMPLE_RATE / 2, n_mels=n_mels, sample_rate=SAMPLE_RATE,
            norm="slaney", mel_scale="slaney")

    @torch.no_grad()
    def __call__(self, wave: Tensor) -> Tensor:
        frames = max(wave.numel() // HOP_LENGTH, 1)
        if wave.numel() <= WHISPER_N_FFT // 2:  # reflect padding needs a few samples; pad tiny inputs with silence
            wave = torch.nn.functional.pad(wave, (0, WHISPER_N_FFT // 2 + 1 - wave.numel()))
        stft = torch.stft(wave.float(), WHISPER_N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = stft[:, :frames].abs() ** 2  # (201, F): Whisper drops the frame centred past the end
        log_spec = (self.filters.T @ power).clamp(min=LOG_FLOOR).log10()  # (n_mels, F)
        return torch.maximum(log_spec, log_spec.max() - WHISPER_DYNAMIC_RANGE).T.contiguous()  # (F, n_mels)


def pad_or_trim(wave: Tensor, samples: int) -> Tensor:
    """``wave (N,)`` cut or extended with silence to exactly ``samples``: Whisper's fixed 30 s input."""
    return torch.nn.functional.pad(wave[:samples], (0, max(samples - wave.numel(), 0)))


_EXTRACTORS: dict[tuple[str, int], Callable[[Tensor], Tensor]] = {}


def feature_extractor(kind: str, n_mels: int = 80) -> Callable[[Tensor], Tensor]:
    """The function ``(N,)`` waveform -> ``(F, n_mels)`` features of a model with ``features=kind``."""
    if kind == "log_mel":
        if n_mels != 80:
            raise ValueError(f"features=log_mel has 80 mel bins, not {n_mels}")
        return log_mel
    if kind != "whisper":
        raise ValueError(f"unknown features {kind!r}")
    if (kind, n_mels) not in _EXTRACTORS:
        _EXTRACTORS[kind, n_mels] = WhisperLogMel(n_mels)
    return _EXTRACTORS[kind, n_mels]


def whisper_frames(num_samples: int) -> int:
    """Whisper feature frames of ``num_samples`` samples: one per hop."""
    return max(num_samples // HOP_LENGTH, 1)
