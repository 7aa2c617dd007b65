"""``s2s prepare an4``: CMU AN4 read speech, with validation and test speakers held out.

From a local copy (``--from ../shared/data/an4``: ``train.tsv`` + FLAC files) the speakers of
the validation and test splits are drawn from the training data, so no speaker is heard in
training and in evaluation. Without ``--from`` the public SPHERE tarball is downloaded; its
official test speakers become the test split and validation speakers are carved from train.

``--split espnet`` holds out what ESPnet's AN4 recipe holds out instead (``egs2/an4/asr1``,
``local/data.sh``): its ``train_dev`` is the first 100 training utterances in the order of its
utterance ids (``<speaker>-<name>``), which is the 8 alphabetically first speakers, and it trains
on the other 848. ESPnet reports its AN4 Transformer on that set too (WER 12.9, docs/guides/speech.md),
so a run on this split is compared with it utterance for utterance. The local copy has no
official test set, so there the test split is the same 100 utterances.
"""

from __future__ import annotations

import csv
import random
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

import soundfile as sf
from rich.console import Console

from s2s.data.prepare.download import fetch
from s2s.data.speech.manifest import Utterance
from s2s.data.prepare.speech_corpus import finish_speech_corpus, progress_bar
from s2s.errors import DataError

URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"
TRANSCRIPT = re.compile(r"^<s>\s*(.*?)\s*</s>\s*\((\S+)\)$")  # "<s> YES </s> (an251-fash-b)"


def speaker_of(utterance_id: str) -> str:
    return utterance_id.split("-")[1]  # an251-fash-b -> fash


def local_utterances(local: Path, audio_dir: Path) -> list[tuple[Utterance, str]]:
    """(utterance, speaker) from a copy holding ``train.tsv`` (id, path, speaker, duration_s, text)."""
    table = local / "train.tsv"
    if not table.is_file():
        raise DataError(f"{table} not found (the --from folder must hold AN4's train.tsv and FLAC files)")
    rows = []
    with open(table, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            source = local / row["path"]
            if not source.is_file():
                raise DataError(f"{source} listed in {table} is missing")
            dest = audio_dir / source.name
            shutil.copyfile(source, dest)
            rows.append((Utterance(row["id"], dest, float(row["duration_s"]), row["text"].strip(), lang="en"),
                         row["speaker"]))
    return rows


def sphere_utterances(root: Path, part: str, audio_dir: Path, console: Console) -> list[tuple[Utterance, str]]:
    """Convert ``an4/wav/an4_{part}/<speaker>/<id>.sph`` listed in ``an4/etc/an4_{part}.transcription`` to FLAC."""
    listing = root / "etc" / f"an4_{part}.transcription"
    lines = listing.read_text(encoding="utf-8").splitlines()
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with progress_bar(console) as progress:
        task = progress.add_task(f"converting AN4 {part}", total=len(lines))
        for line in lines:
            match = TRANSCRIPT.match(line.strip())
            if not match:
                continue
            text, uid = match.groups()
            speaker = speaker_of(uid)
            folder = "an4_clstk" if part == "train" else "an4test_clstk"
            data, rate = sf.read(str(root / "wav" / folder / speaker / f"{uid}.sph"), dtype="int16")
            dest = audio_dir / f"{uid}.flac"
            sf.write(str(dest), data, rate, format="FLAC")
            rows.append((Utterance(uid, dest, len(data) / rate, text, lang="en"), speaker))
            progress.advance(task)
    return rows


ESPNET_DEV_UTTERANCES = 100  # ndev_utt in ESPnet's egs2/an4/asr1/local/data.sh
SPLITS = ("speakers", "espnet")


def espnet_id(utterance_id: str) -> str:
    """ESPnet's (Kaldi's) id for an AN4 utterance: speaker first, ``an251-fash-b`` -> ``fash-an251-b``."""
    parts = utterance_id.split("-", 2)
    if len(parts) != 3:
        raise DataError(f"AN4 utterance id {utterance_id!r} is not <name>-<speaker>-<channel> (an251-fash-b)")
    name, speaker, rest = parts
    return "-".join([speaker, name, rest])


def split_as_espnet(rows: list[tuple[Utterance, str]]) -> dict[str, list[Utterance]]:
    """ESPnet's ``train_nodev`` / ``train_dev``: the first 100 utterances sorted by ESPnet's ids are ``valid``."""
    if len(rows) <= ESPNET_DEV_UTTERANCES:
        raise DataError(f"ESPnet's split holds out {ESPNET_DEV_UTTERANCES} utterances; the copy has only {len(rows)}")
    ordered = sorted((utterance for utterance, _ in rows), key=lambda u: espnet_id(u.id))
    return {"train": ordered[ESPNET_DEV_UTTERANCES:], "valid": ordered[:ESPNET_DEV_UTTERANCES]}


def split_by_speaker(rows: list[tuple[Utterance, str]], counts: dict[str, int], seed: int) -> dict[str, list[Utterance]]:
    """Hold out ``counts[split]`` whole speakers per split (seeded); the rest is ``train``."""
    speakers = sorted({speaker for _, speaker in rows})
    if sum(counts.values()) >= len(speakers):
        raise DataError(f"cannot hold out {sum(counts.values())} of {len(speakers)} speakers")
    random.Random(seed).shuffle(speakers)
    assignment, start = {}, 0
    for split, n in counts.items():
        assignment.update({s: split for s in speakers[start : start + n]})
        start += n
    splits: dict[str, list[Utterance]] = {"train": [], **{split: [] for split in counts}}
    for utterance, speaker in rows:
        splits[assignment.get(speaker, "train")].append(utterance)
    return splits


def prepare_an4(*, out: Path, local: Path | None, vocab_size: int, valid_speakers: int, test_speakers: int,
                seed: int = 1, split: str = "speakers", console: Console | None = None) -> Path:
    """``split``: ``speakers`` (``valid_speakers`` and, from a local copy, ``test_speakers`` drawn
    with ``seed``) or ``espnet`` (ESPnet's ``train_dev``, above)."""
    if split not in SPLITS:
        raise DataError(f"unknown AN4 split {split!r}; choose one of {', '.join(SPLITS)}")
    console = console or Console(stderr=True)
    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)

    def hold_out(rows: list[tuple[Utterance, str]], counts: dict[str, int]) -> dict[str, list[Utterance]]:
        return split_as_espnet(rows) if split == "espnet" else split_by_speaker(rows, counts, seed)

    if local is not None:
        splits = hold_out(local_utterances(Path(local), audio_dir), {"valid": valid_speakers, "test": test_speakers})
        if split == "espnet":
            console.print("no official test set in a local copy: test.tsv is ESPnet's train_dev, as valid.tsv")
            splits["test"] = splits["valid"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            tarball = fetch("an4_sphere.tar.gz", url=URL, local_dir=None, dest=Path(tmp) / "an4_sphere.tar.gz")
            with tarfile.open(tarball) as tar:
                tar.extractall(tmp, filter="data")
            root = Path(tmp) / "an4"
            splits = hold_out(sphere_utterances(root, "train", audio_dir, console), {"valid": valid_speakers})
            splits["test"] = [u for u, _ in sphere_utterances(root, "test", audio_dir, console)]
    text = [u.target for u in splits["train"]]
    finish_speech_corpus(out, splits, corpus="an4", vocab_size=vocab_size, tokenizer_text=text, console=console)
    return out
