"""Helpers shared by the speech tests: small real-audio corpora and audio files in odd formats."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SHARED_DATA, require_shared

AN4 = SHARED_DATA / "an4"
FSDD = SHARED_DATA / "fsdd" / "recordings"


def an4_subset(dest: Path, speakers: int = 6, per_speaker: int = 4) -> Path:
    """A copy of AN4's layout (train.tsv + FLAC) with a few utterances of a few speakers."""
    require_shared(AN4)
    with open(AN4 / "train.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    chosen, counts = [], {}
    for row in rows:
        if len(counts) >= speakers and row["speaker"] not in counts:
            continue
        if counts.get(row["speaker"], 0) < per_speaker and float(row["duration_s"]) < 4.0:
            counts[row["speaker"]] = counts.get(row["speaker"], 0) + 1
            chosen.append(row)
    (dest / "train").mkdir(parents=True, exist_ok=True)
    with open(dest / "train.tsv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in chosen:
            shutil.copyfile(AN4 / row["path"], dest / row["path"])
            writer.writerow(row)
    return dest


def fsdd_subset(dest: Path, digits=(0, 1, 2), speakers=("george", "jackson"), indices=range(5, 17)) -> Path:
    require_shared(FSDD)
    dest.mkdir(parents=True, exist_ok=True)
    for d in digits:
        for s in speakers:
            for i in indices:
                shutil.copyfile(FSDD / f"{d}_{s}_{i}.wav", dest / f"{d}_{s}_{i}.wav")
    return dest


def sine(seconds: float, rate: int, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * math.pi * freq * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def write_odd_files(folder: Path) -> dict[str, Path]:
    """An 8 kHz stereo WAV (real FSDD speech), a 44.1 kHz FLAC, an empty WAV, a corrupt WAV and a text file."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    speech, rate = sf.read(str(require_shared(FSDD) / "3_jackson_20.wav"), dtype="float32")
    files["stereo8k"] = folder / "stereo8k.wav"
    sf.write(str(files["stereo8k"]), np.stack([speech, 0.5 * speech], axis=1), rate)
    files["flac44k"] = folder / "tone44k.flac"
    sf.write(str(files["flac44k"]), sine(1.2, 44_100), 44_100)
    files["empty"] = folder / "empty.wav"
    sf.write(str(files["empty"]), np.zeros((0,), dtype=np.float32), 16_000)
    files["corrupt"] = folder / "corrupt.wav"
    good = (folder / "stereo8k.wav").read_bytes()
    files["corrupt"].write_bytes(good[:12] + bytes(range(256)) * 4)  # a RIFF header, then garbage
    files["text"] = folder / "notes.mp3"
    files["text"].write_text("this is not audio\n")
    return files


def skip_without(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (apt-get install {program})")
