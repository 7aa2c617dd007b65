"""``s2s prepare multi30k``: Multi30k task 1 text, split files and a joint SentencePiece model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from rich.console import Console

from s2s.data.download import fetch, gunzip_lines
from s2s.data.tokenizer import Tokenizer
from s2s.errors import DataError

URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{name}"
SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}  # our name -> upstream name
LANGS = ("en", "de", "fr", "cs")


def prepare_multi30k(*, langs: list[str], out: Path, local: Path | None, vocab_size: int,
                     console: Console | None = None) -> Path:
    """Write ``out/{train,valid,test}.{lang}`` and ``out/spm.model`` (joint over ``langs``)."""
    console = console or Console(stderr=True)
    unknown = sorted(set(langs) - set(LANGS))
    if unknown:
        raise DataError(f"Multi30k has no language(s) {unknown}; choose from {list(LANGS)}")
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for split, upstream in SPLITS.items():
            for lang in langs:
                name = f"{upstream}.{lang}.gz"
                gz = fetch(name, url=URL.format(name=name), local_dir=local, dest=Path(tmp) / name)
                lines = [line.strip() for line in gunzip_lines(gz)]
                (out / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
                counts.setdefault(split, set()).add(len(lines))
    for split, sizes in counts.items():
        if len(sizes) != 1:
            raise DataError(f"Multi30k {split} files disagree on line counts: {sorted(sizes)}")
    console.print(f"[green]copied[/] Multi30k {', '.join(langs)}: " +
                  ", ".join(f"{split} {next(iter(n)):,}" for split, n in counts.items()))
    sentences = [line for lang in langs for line in (out / f"train.{lang}").read_text(encoding="utf-8").splitlines()]
    with console.status(f"training a joint SentencePiece model ({vocab_size} pieces) on {len(sentences):,} sentences"):
        tokenizer = Tokenizer.train(sentences, out / "spm", vocab_size=vocab_size, languages=LANGS)
    meta = {"corpus": "multi30k", "languages": langs, "vocab_size": tokenizer.vocab_size,
            "sentences": {split: next(iter(n)) for split, n in counts.items()}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    console.print(f"[green]wrote[/] {out}/spm.model ({tokenizer.vocab_size} pieces) and the split files")
    return out
