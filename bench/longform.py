"""Long recordings built from real utterances at known offsets: WER with and without VAD, word-start
error, and what comes out of ten minutes of silence, noise and tones.

    python bench/longform.py [--whisper models/whisper-tiny.en.pt] [--ctc runs/fsdd_digits/model.pt]

- WER: AN4 utterances (Whisper tiny.en, zero-shot, greedy, scored after Whisper's normalizer) and
  FSDD test digits (the from-scratch CTC/attention model of ``experiment=fsdd_digits``, beam 5, CTC
  0.3), joined with 1-8 s (AN4) or 0.5-3 s (FSDD) of silence or of pink noise at the recordings'
  own background level, transcribed as one long recording with VAD and with fixed windows
  (``--no-vad``), against the same utterances transcribed one by one. The FSDD model was trained
  on single digits and writes one word per window, so its VAD windows are at most 1.5 s: one digit.
- Word starts (``--word-timestamps``): espeak-ng captions synthesized word by word (test captions;
  the alignment heads were chosen on training captions), the first word of each joined AN4
  utterance, and each joined FSDD digit (CTC alignment), mean and 95th percentile in ms.
- Non-speech: 10 minutes each of silence, pink noise and tones through VAD and the model.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from known_timing import espeak_sentences, first_word_errors, joined, pink_noise, summary, word_start_errors  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)

from s2s.checkpoint import load_checkpoint  # noqa: E402
from s2s.data.speech.audio import SAMPLE_RATE, load_audio  # noqa: E402
from s2s.data.speech.manifest import read_manifest  # noqa: E402
from s2s.decoding import DecodingOptions  # noqa: E402
from s2s.inference.transcriber import Transcriber  # noqa: E402
from s2s.metrics import recognition_scores, whisper_normalizer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def an4_utterances(count: int) -> tuple[list[torch.Tensor], list[str]]:
    with open(SHARED / "an4" / "train.tsv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if 1.5 <= float(r["duration_s"]) <= 5.0][:count]
    return [load_audio(SHARED / "an4" / r["path"]) for r in rows], [r["text"] for r in rows]


def fsdd_digits(manifest: Path, count: int) -> tuple[list[torch.Tensor], list[str]]:
    rows = read_manifest(manifest)[:: max(1, len(read_manifest(manifest)) // count)][:count]
    return [load_audio(r.audio) for r in rows], [r.target for r in rows]


def words_of(transcript) -> list[tuple[str, float, float]]:
    return [(w.word, w.start, w.end) for s in transcript.segments for w in s.words]


def wer_rows(name: str, loaded, options: DecodingOptions, waves, texts, gap, normalize, window=None) -> list[str]:
    rng = np.random.default_rng(1)
    one_by_one = Transcriber(loaded, options=options, vad=False).transcribe_waves(waves)
    alone = recognition_scores([" ".join(t.text for t in one_by_one)], [" ".join(texts)], normalize=normalize)
    lines = [f"| {name} | {len(waves)} utterances one by one | – | {alone['wer']:.2f} |"]
    for noise in (False, True):
        recording = joined(waves, texts, gap, noise, rng)
        minutes = recording.wave.numel() / SAMPLE_RATE / 60
        for vad in (True, False):
            kwargs = {"window": window, "overlap": 0.5} if vad and window else {}
            (result,) = Transcriber(loaded, options=options, vad=vad, **kwargs).transcribe_waves([recording.wave])
            score = recognition_scores([result.text], [" ".join(texts)], normalize=normalize)
            how = (f"VAD, windows up to {window:g} s" if window else "VAD") if vad else "fixed windows (--no-vad)"
            lines.append(
                f"| {name} | one {minutes:.1f}-minute recording, {'noise' if noise else 'silence'} between, "
                f"{how} | {len(result.segments)} | {score['wer']:.2f} |"
            )
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--whisper", type=Path, default=ROOT / "models" / "whisper-tiny.en.pt")
    p.add_argument("--ctc", type=Path, default=ROOT / "runs" / "fsdd_digits" / "model.pt")
    p.add_argument("--fsdd-test", type=Path, default=ROOT / "data" / "fsdd" / "test.tsv")
    p.add_argument("--utterances", type=int, default=24)
    args = p.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    whisper = load_checkpoint(args.whisper)
    ctc = load_checkpoint(args.ctc)
    greedy = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=80)
    joint = DecodingOptions(beam_size=5, max_len_a=0.2, max_len_b=5, ctc_weight=0.3)
    english = whisper_normalizer()

    an4_waves, an4_texts = an4_utterances(args.utterances)
    digit_waves, digit_texts = fsdd_digits(args.fsdd_test, 40)
    print("| model | input | segments | WER |\n|---|---|---|---|")
    for line in wer_rows("Whisper tiny.en", whisper, greedy, an4_waves, an4_texts, (1.0, 8.0), "whisper"):
        print(line)
    for line in wer_rows("FSDD CTC/attention", ctc, joint, digit_waves, digit_texts, (0.5, 3.0), None, window=1.5):
        print(line)

    print(
        "\n| model | words | timing | mean word-start error (ms) | p95 (ms) | words matched |\n|---|---|---|---|---|---|"
    )
    with gzip.open(SHARED / "multi30k" / "test_2016_flickr.en.gz", "rt", encoding="utf-8") as f:
        captions = [line.strip() for line in f if 4 <= len(line.split()) <= 12][:10]
    speech = espeak_sentences(captions, np.random.default_rng(2))
    heads = whisper.info.alignment_heads
    for label, chosen in (
        ("chosen heads " + str([list(h) for h in heads]), heads),
        ("upper half of the layers, all heads", ()),
    ):
        whisper.info = dataclasses.replace(whisper.info, alignment_heads=chosen)
        timer = Transcriber(whisper, options=greedy, word_timestamps=True)
        (result,) = timer.transcribe_waves([speech.wave])
        errors = word_start_errors([(w, s) for w, s, _ in words_of(result)], speech.words, english)
        mean, p95, n = summary(errors)
        print(
            f"| Whisper tiny.en | espeak-ng captions, word by word ({len(speech.words)} words) | DTW, {label} "
            f"| {mean:.0f} | {p95:.0f} | {n} |"
        )
    whisper.info = dataclasses.replace(whisper.info, alignment_heads=heads)
    recording = joined(an4_waves, an4_texts, (1.0, 8.0), False, np.random.default_rng(3))
    (result,) = Transcriber(whisper, options=greedy, word_timestamps=True).transcribe_waves([recording.wave])
    mean, p95, n = summary(first_word_errors(words_of(result), recording))
    print(
        f"| Whisper tiny.en | first word of each joined AN4 utterance | DTW, chosen heads | {mean:.0f} | {p95:.0f} | {n} |"
    )
    recording = joined(digit_waves, digit_texts, (0.5, 3.0), False, np.random.default_rng(4))
    (result,) = Transcriber(
        ctc, options=joint, word_timestamps=True, window=1.5, overlap=0.5, vad=True
    ).transcribe_waves([recording.wave])
    errors = word_start_errors([(w, s) for w, s, _ in words_of(result)], recording.words, str.lower)
    mean, p95, n = summary(errors)
    print(f"| FSDD CTC/attention | joined FSDD digits | CTC forced alignment | {mean:.0f} | {p95:.0f} | {n} |")

    print("\n| 10 minutes of | segments | Whisper tiny.en text (VAD) | seconds |\n|---|---|---|---|")
    seconds = 600
    t = np.arange(seconds * SAMPLE_RATE) / SAMPLE_RATE
    freq = np.array([262.0, 330.0, 392.0, 523.0])[(t * 2).astype(int) % 4]
    kinds = {
        "silence": np.zeros(len(t), np.float32),
        "pink noise": pink_noise(len(t), 0.05, np.random.default_rng(5)),
        "tones": (0.2 * np.sin(2 * np.pi * freq * t) + 0.1 * np.sin(4 * np.pi * freq * t)).astype(np.float32),
    }
    transcriber = Transcriber(whisper, options=greedy)
    for kind, wave in kinds.items():
        began = time.perf_counter()
        wave = torch.from_numpy(wave)
        (result,) = transcriber.transcribe_waves([wave])
        print(f"| {kind} | {len(result.segments)} | {result.text!r} | {time.perf_counter() - began:.0f} |")
    print(f"\n{describe()}; {time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
