"""The audio front end: any file -> 16 kHz mono -> log-mel; statistics; augmentations."""

from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf
import torch

from s2s.data.speech.audio import (HOP_LENGTH, N_MELS, SAMPLE_RATE, FeatureStats, SpecAugment, load_audio, log_mel,
                            num_frames, speed_perturb)
from s2s.errors import AudioError
from tests.speech_helpers import sine, write_odd_files


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    return write_odd_files(tmp_path_factory.mktemp("audio"))


def dominant_frequency(wave: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    return float(np.argmax(spectrum) * SAMPLE_RATE / wave.numel())


def test_any_rate_and_channels_become_16k_mono(odd_files):
    original, rate = sf.read(str(odd_files["stereo8k"]), always_2d=True)
    wave = load_audio(odd_files["stereo8k"])
    assert rate == 8000 and original.shape[1] == 2
    assert wave.ndim == 1 and wave.dtype == torch.float32
    assert abs(wave.numel() - 2 * original.shape[0]) <= 2
    tone = load_audio(odd_files["flac44k"])  # 1.2 s of 440 Hz at 44.1 kHz
    assert abs(tone.numel() - int(1.2 * SAMPLE_RATE)) <= 2
    assert abs(dominant_frequency(tone) - 440.0) < 2.0  # resampling kept the pitch


def test_ogg_and_downmix(tmp_path):
    path = tmp_path / "tone.ogg"
    stereo = sine(0.5, 22_050, channels=2)
    stereo[:, 1] = 0.0  # one silent channel: the mono mix is half the signal
    sf.write(str(path), stereo, 22_050, format="OGG", subtype="VORBIS")
    wave = load_audio(path)
    assert abs(wave.numel() - 8000) <= 2
    assert 0.1 < float(wave.abs().max()) < 0.2


@pytest.mark.parametrize("name, message", [("empty", "no audio samples"), ("corrupt", "not a readable audio file"),
                                           ("text", "not a readable audio file")])
def test_bad_files_raise_one_line_errors(odd_files, name, message):
    with pytest.raises(AudioError, match=message) as error:
        load_audio(odd_files[name])
    assert "\n" not in str(error.value) and str(odd_files[name]) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


@pytest.mark.parametrize("samples", [1, 100, 400, 16_000, 16_159, 16_160])
def test_log_mel_frames(samples):
    feats = log_mel(torch.randn(samples) * 0.1)
    assert feats.shape == (num_frames(samples), N_MELS)
    assert torch.isfinite(feats).all()
    assert num_frames(samples) == samples // HOP_LENGTH + 1


def test_feature_stats_normalize_and_roundtrip(tmp_path, odd_files):
    feats = [log_mel(load_audio(odd_files["stereo8k"])), log_mel(torch.randn(8000) * 0.05)]
    stats = FeatureStats.compute(feats)
    both = torch.cat(feats)
    normalized = (both - torch.tensor(stats.mean)) / torch.tensor(stats.std)
    assert normalized.mean(0).abs().max() < 1e-4
    assert (normalized.std(0, unbiased=False) - 1).abs().max() < 1e-3
    stats.save(tmp_path / "cmvn.json")
    assert FeatureStats.load(tmp_path / "cmvn.json") == stats
    with pytest.raises(AudioError):
        FeatureStats.compute([])


def test_spec_augment_masks_within_length():
    feats = torch.randn(50, N_MELS)
    fill = torch.full((N_MELS,), 7.0)
    augment = SpecAugment(freq_masks=2, freq_width=10, time_masks=2, time_width=40, time_ratio=0.2)
    for seed in range(20):
        out = augment(feats, fill, random.Random(seed))
        masked = out == 7.0
        assert not torch.equal(out, feats) or seed  # at least the first draw masks something
        rows = masked.all(dim=1).sum()  # fully masked frames: at most 2 masks of <= 10 frames (20% of 50)
        cols = masked.all(dim=0).sum()
        assert rows <= 20 and cols <= 20
        assert torch.equal(out[~masked], feats[~masked])
    assert torch.equal(SpecAugment(0, 0, 0, 0)(feats, fill, random.Random(0)), feats)


def test_speed_perturbation_changes_duration():
    wave = torch.from_numpy(sine(1.0, SAMPLE_RATE))
    fast, slow = speed_perturb(wave, 1.1), speed_perturb(wave, 0.9)
    assert abs(fast.numel() - SAMPLE_RATE / 1.1) < 3 and abs(slow.numel() - SAMPLE_RATE / 0.9) < 3
    assert abs(dominant_frequency(fast) - 440 * 1.1) < 3  # pitch moves with speed
    assert speed_perturb(wave, 1.0) is wave
