"""What every ``s2s prepare`` of a speech corpus ends with: manifests, CMVN statistics, tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from s2s.data.speech.audio import FeatureStats, load_audio, log_mel
from s2s.data.speech.manifest import Utterance, write_manifest
from s2s.data.text.tokenizer import LANGUAGES, Tokenizer


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=True)


def finish_speech_corpus(out: Path, splits: dict[str, list[Utterance]], *, corpus: str, vocab_size: int,
                         tokenizer_text: list[str], console: Console, model_type: str = "unigram") -> None:
    """Write ``{split}.tsv``, ``cmvn.json`` (from the training audio), ``spm.model`` and ``meta.json``."""
    for split, rows in splits.items():
        write_manifest(out / f"{split}.tsv", rows)
    # Each recording once: with transcripts every one is listed twice, which would not change the
    # statistics but would double the time.
    recordings = list(dict.fromkeys(row.audio for row in splits["train"]))
    with progress_bar(console) as progress:
        task = progress.add_task("normalization statistics", total=len(recordings))

        def features():
            for audio in recordings:
                yield log_mel(load_audio(audio))
                progress.advance(task)

        stats = FeatureStats.compute(features())
    stats.save(out / "cmvn.json")
    tokenizer = Tokenizer.train(tokenizer_text, out / "spm", vocab_size=vocab_size, languages=LANGUAGES,
                                model_type=model_type)
    hours = {split: round(sum(r.duration for r in rows) / 3600, 3) for split, rows in splits.items()}
    meta = {"corpus": corpus, "utterances": {s: len(r) for s, r in splits.items()}, "hours": hours,
            "vocab_size": tokenizer.vocab_size, "feature_frames": stats.frames}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    console.print(f"[green]wrote[/] {out}: " + ", ".join(f"{s} {len(r):,} utterances ({hours[s] * 60:.1f} min)"
                                                         for s, r in splits.items())
                  + f"; spm.model ({tokenizer.vocab_size} pieces); cmvn.json")
