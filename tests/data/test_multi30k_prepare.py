"""``s2s prepare multi30k``: the split files it writes, cased or lower-cased (``--lowercase``)."""

from __future__ import annotations

import gzip
import json

import pytest
from tests.reliability.test_hostile_inputs import write_gz

from s2s.cli.main import main
from s2s.data.tokenizer import Tokenizer

WORDS = {"en": "A Man walks The Dog on Main Street in NEW YORK".split(),
         "de": "Ein Mann führt den Hund über die Straße in ÖSTERREICH".split()}


def mirror(folder, count: int = 200):
    """Multi30k's .gz files with mixed-case lines, some with upper-case umlauts."""
    folder.mkdir()
    for upstream in ("train", "val", "test_2016_flickr"):
        for lang, words in WORDS.items():
            write_gz(folder, f"{upstream}.{lang}.gz",
                     [" ".join(words[(i * 3 + k) % len(words)] for k in range(2 + i % 6)) for i in range(count)])
    return folder


@pytest.mark.parametrize("lowercase", [False, True])
def test_prepare_multi30k_keeps_or_folds_case_line_for_line(tmp_path, lowercase):
    source = mirror(tmp_path / "mirror")
    out = tmp_path / "out"
    main(["prepare", "multi30k", "--from", str(source), "--out", str(out), "--vocab-size", "60",
          *(["--lowercase"] if lowercase else [])])
    for split, upstream in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr")):
        for lang in WORDS:
            with gzip.open(source / f"{upstream}.{lang}.gz", "rt", encoding="utf-8") as f:
                upstream_lines = f.read().splitlines()
            written = (out / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            assert written == ([line.lower() for line in upstream_lines] if lowercase else upstream_lines)
    assert json.loads((out / "meta.json").read_text())["lowercase"] is lowercase
    tokenizer = Tokenizer.from_file(out / "spm.model")
    pieces = [tokenizer.piece(i) for i in range(tokenizer.vocab_size)]
    has_upper = any(any(c.isupper() for c in piece) for piece in pieces)
    assert has_upper is not lowercase  # a lower-cased corpus gives a tokenizer without upper-case pieces
    # ... which lower-cases what it reads, so a checkpoint trained on it still takes cased input
    cased, folded = "Ein Mann führt den Hund über die STRASSE", "ein mann führt den hund über die strasse"
    assert (tokenizer.encode(cased) == tokenizer.encode(folded)) is lowercase
    assert tokenizer.decode(tokenizer.encode("Die Straße")) == ("die straße" if lowercase else "Die Straße")
