"""``s2s prepare synth``: speech for a text corpus, synthesized with espeak-ng.

Each source sentence is spoken by a voice drawn from several English accents and voice
variants, at a drawn speed (words per minute) and pitch, then resampled from espeak-ng's
22.05 kHz to 16 kHz and stored as FLAC. Draws are seeded per sentence, so a rerun writes the
same audio. Workers run espeak-ng processes in parallel. With Multi30k En->De this builds an
English speech -> German text corpus; the manifests keep the English transcript too.

An interrupted run loses nothing: each split's ``done.tsv`` lists every file written whole
(file name, a key of its sentence and voice, duration), and a rerun reuses those whose key
still matches instead of synthesizing them again.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import soundfile as sf
from rich.console import Console

from s2s.data.speech.audio import SAMPLE_RATE, resample
from s2s.data.prepare.download import fetch, gunzip_lines
from s2s.data.speech.manifest import Utterance
from s2s.data.prepare.multi30k import SPLITS, URL
from s2s.data.prepare.speech_corpus import finish_speech_corpus, progress_bar
from s2s.errors import DataError

ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m5", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5")
SPEED = (130, 190)  # words per minute (espeak-ng's default is 175)
PITCH = (30, 70)  # espeak-ng's 0-99 scale (default 50)


def espeak() -> str:
    program = shutil.which("espeak-ng")
    if program is None:
        raise DataError("espeak-ng is not installed: `apt-get install espeak-ng` (Debian/Ubuntu)")
    return program


def voice_for(seed: int, split: str, index: int) -> tuple[str, int, int]:
    rng = random.Random(f"{seed}/{split}/{index}")
    return rng.choice(ACCENTS) + rng.choice(VARIANTS), rng.randint(*SPEED), rng.randint(*PITCH)


def synthesize(text: str, dest: Path, voice: str, speed: int, pitch: int) -> float:
    """Speak ``text`` into ``dest`` (16 kHz FLAC); returns its duration in seconds."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        # "--" ends the options, so a sentence starting with "-" is spoken, not parsed.
        result = subprocess.run([espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), "--", text],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0 or not wav.is_file():
            raise DataError(f"espeak-ng failed on {text[:60]!r}: {result.stderr.strip()[:200]}")
        data, rate = sf.read(str(wav), dtype="float32")
    wave = resample(torch.from_numpy(data), rate, SAMPLE_RATE)
    partial = dest.with_name(dest.name + ".part")  # renamed once whole: a killed run leaves no half file
    sf.write(str(partial), wave.numpy(), SAMPLE_RATE, format="FLAC")
    os.replace(partial, dest)
    return wave.numel() / SAMPLE_RATE


def job_key(text: str, voice: str, speed: int, pitch: int) -> str:
    """What a file's audio depends on: a rerun reuses a file only if this is unchanged."""
    return hashlib.sha1(f"{voice}|{speed}|{pitch}|{text}".encode()).hexdigest()[:16]


def finished_files(log: Path) -> dict[str, tuple[str, float]]:
    """``done.tsv`` of an earlier run: file name -> (key, duration), for files written whole."""
    done = {}
    if log.is_file():
        for line in log.read_text(encoding="utf-8").split("\n")[:-1]:  # a last line without "\n" was cut short
            parts = line.split("\t")
            if len(parts) == 3:
                done[parts[0]] = (parts[1], float(parts[2]))
    return done


def read_corpus(local: Path | None, split: str, lang: str, tmp: Path) -> list[str]:
    """``split.lang`` plain text (as ``s2s prepare multi30k`` writes it) or the Multi30k ``.gz`` files."""
    if local is not None and (Path(local) / f"{split}.{lang}").is_file():
        return (Path(local) / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
    name = f"{SPLITS[split]}.{lang}.gz"
    return gunzip_lines(fetch(name, url=URL.format(name=name), local_dir=local, dest=tmp / name))


def synthesize_split(split: str, sources: list[str], targets: list[str], *, tgt_lang: str, out: Path, seed: int,
                     workers: int, console: Console) -> list[Utterance]:
    audio_dir = out / "audio" / split
    audio_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(i, s.strip(), t.strip()) for i, (s, t) in enumerate(zip(sources, targets)) if s.strip() and t.strip()]
    log_path = audio_dir / "done.tsv"
    done = finished_files(log_path)

    def work(job: tuple[int, str, str]) -> tuple[Utterance, str | None]:
        """The job's row and, when its file was synthesized now, its ``done.tsv`` line."""
        i, source, target = job
        dest = audio_dir / f"{split}_{i:06d}.flac"
        voice = voice_for(seed, split, i)
        key = job_key(source, *voice)
        if done.get(dest.name, ("", 0.0))[0] == key and dest.is_file():
            duration, line = done[dest.name][1], None
        else:
            duration = synthesize(source, dest, *voice)
            line = f"{dest.name}\t{key}\t{duration}\n"
        return Utterance(dest.stem, dest, duration, target, source, tgt_lang), line

    rows, reused = [], 0
    with progress_bar(console) as progress, ThreadPoolExecutor(max_workers=workers) as pool, \
            open(log_path, "a", encoding="utf-8") as log:
        task = progress.add_task(f"synthesizing {split}", total=len(jobs))
        for row, line in pool.map(work, jobs):
            rows.append(row)
            if line is None:
                reused += 1
            else:
                log.write(line)
                log.flush()
            progress.advance(task)
    if reused:
        console.print(f"{split}: reused {reused:,} files synthesized by an earlier run (listed in {log_path})")
    return rows


def with_transcripts(rows: list[Utterance], src_lang: str) -> list[Utterance]:
    """The same audio a second time with its transcript as the target (multi-task: transcribe and translate)."""
    return [Utterance(f"{r.id}-{src_lang}", r.audio, r.duration, r.source, r.source, src_lang) for r in rows]


def prepare_synth(*, out: Path, local: Path | None, src_lang: str, tgt_lang: str, limits: dict[str, int | None],
                  workers: int, vocab_size: int, seed: int = 1, transcripts: bool = False,
                  console: Console | None = None) -> Path:
    """Write ``out/{train,valid,test}.tsv`` (audio from ``src_lang`` text, targets in ``tgt_lang``).

    With ``transcripts``, train and valid also ask for the transcript of every utterance (train
    with ``data.task=auto``), and ``test_asr.tsv`` scores transcription apart from translation.
    """
    console = console or Console(stderr=True)
    espeak()
    splits = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split, limit in limits.items():
            sources = read_corpus(local, split, src_lang, Path(tmp))
            targets = read_corpus(local, split, tgt_lang, Path(tmp))
            if len(sources) != len(targets):
                raise DataError(f"{split}: {len(sources)} {src_lang} lines but {len(targets)} {tgt_lang} lines")
            sources, targets = sources[:limit], targets[:limit]
            splits[split] = synthesize_split(split, sources, targets, tgt_lang=tgt_lang, out=out, seed=seed,
                                             workers=workers, console=console)
    text = [u.target for u in splits["train"]] + [u.source for u in splits["train"]]
    if transcripts:
        for split in ("train", "valid"):
            splits[split] = splits[split] + with_transcripts(splits[split], src_lang)
        splits["test_asr"] = with_transcripts(splits["test"], src_lang)
    finish_speech_corpus(out, splits, corpus=f"synth-{src_lang}-{tgt_lang}", vocab_size=vocab_size,
                         tokenizer_text=text, console=console)
    return out
