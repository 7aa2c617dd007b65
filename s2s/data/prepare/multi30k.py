"""``s2s prepare multi30k``: Multi30k task 1 text, split files and a joint SentencePiece model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.console import Console

from s2s.data.prepare.download import fetch, gunzip_lines
from s2s.data.text.corpus import read_lines
from s2s.data.text.tokenizer import Tokenizer
from s2s.errors import DataError

URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{name}"
SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}  # our name -> upstream name
LANGS = ("en", "de", "fr", "cs")


def prepare_multi30k(*, langs: list[str], out: Path, local: Path | None, vocab_size: int,
                     lowercase: bool = False, console: Console | None = None) -> Path:
    """Write ``out/{train,valid,test}.{lang}`` and ``out/spm.model`` (joint over ``langs``).

    ``lowercase`` lower-cases every side of every split, as the "lower-cased, tokenized" Multi30k of
    fairseq's and most multimodal-MT papers' baselines: a model trained on it writes lower case only,
    and its tokenizer lower-cases what it reads, so cased input still translates.
    """
    console = console or Console(stderr=True)
    unknown = sorted(set(langs) - set(LANGS))
    if unknown:
        raise DataError(f"Multi30k has no language(s) {unknown}; choose from {list(LANGS)}")
    out.mkdir(parents=True, exist_ok=True)
    fold = str.lower if lowercase else str
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split, upstream in SPLITS.items():
            texts = {}
            for lang in langs:
                name = f"{upstream}.{lang}.gz"
                gz = fetch(name, url=URL.format(name=name), local_dir=local, dest=Path(tmp) / name)
                texts[name] = [fold(line.strip()) for line in gunzip_lines(gz)]
            check_aligned(texts)  # before anything of this split is written
            for lang, lines in zip(langs, texts.values()):
                (out / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
            counts[split] = len(lines)
    console.print(f"[green]copied[/] Multi30k {', '.join(langs)}{' (lower-cased)' if lowercase else ''}: " +
                  ", ".join(f"{split} {n:,}" for split, n in counts.items()))
    sentences = [line for lang in langs for line in read_lines(out / f"train.{lang}")]
    with console.status(f"training a joint SentencePiece model ({vocab_size} pieces) on {len(sentences):,} sentences"):
        tokenizer = Tokenizer.train(sentences, out / "spm", vocab_size=vocab_size, languages=LANGS,
                                    lowercase=lowercase)
    meta = {"corpus": "multi30k", "languages": langs, "vocab_size": tokenizer.vocab_size,
            "lowercase": lowercase, "sentences": counts}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    console.print(f"[green]wrote[/] {out}/spm.model ({tokenizer.vocab_size} pieces) and the split files")
    return out


def check_aligned(texts: dict[str, list[str]]) -> None:
    """Refuse parallel files that are empty or whose line counts differ, naming the files and counts."""
    (first, first_lines), *others = texts.items()
    if not first_lines:
        raise DataError(f"{first} is empty")
    for name, lines in others:
        if len(lines) != len(first_lines):
            raise DataError(f"{first} has {len(first_lines):,} lines but {name} has {len(lines):,}: "
                            "a parallel corpus must align line by line")
