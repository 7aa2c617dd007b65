"""``s2s prepare fsdd``: the Free Spoken Digit Dataset (``{digit}_{speaker}_{index}.wav``, 8 kHz).

Recordings are held out by index, so every speaker and digit appears in every split:
index ``< valid_below`` is validation, the next ``test_count`` indices are test, the rest train.
The target text is the digit's English word, and the SentencePiece model is word-level (one
piece per digit), so a digit is one decoding step and one CTC label.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from rich.console import Console

from s2s.data.speech.audio import duration_of
from s2s.data.speech.manifest import Utterance
from s2s.data.prepare.speech_corpus import finish_speech_corpus
from s2s.errors import DataError

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def name_fields(path: Path) -> tuple[str, str, str]:
    """``(digit, speaker, index)`` of a recording whose name matches ``NAME``."""
    match = NAME.match(path.name)
    assert match is not None  # only matching files are read
    digit, speaker, index = match.groups()
    return digit, speaker, index


def prepare_fsdd(*, out: Path, local: Path, vocab_size: int = 40, valid_count: int = 5, test_count: int = 5,
                 console: Console | None = None) -> Path:
    """``local``: the FSDD folder (holding ``recordings/``) or the ``recordings`` folder itself."""
    console = console or Console(stderr=True)
    recordings = local / "recordings" if (local / "recordings").is_dir() else local
    files = sorted(p for p in recordings.glob("*.wav") if NAME.match(p.name))
    if not files:
        raise DataError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {recordings}")
    first = min(int(name_fields(p)[2]) for p in files)
    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    splits: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for path in files:
        digit, _, index = name_fields(path)
        offset = int(index) - first
        split = "valid" if offset < valid_count else "test" if offset < valid_count + test_count else "train"
        dest = audio_dir / path.name
        shutil.copyfile(path, dest)
        splits[split].append(Utterance(path.stem, dest, duration_of(dest), WORDS[int(digit)], lang="en"))
    text = [u.target for u in splits["train"]]
    finish_speech_corpus(out, splits, corpus="fsdd", vocab_size=vocab_size, tokenizer_text=text, console=console,
                         model_type="word")
    return out
