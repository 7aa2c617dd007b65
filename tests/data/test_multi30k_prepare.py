"""``s2s prepare multi30k``: the split files it writes, cased or lower-cased (``--lowercase``)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from tests.reliability.test_hostile_inputs import FAST, multi30k_mirror

from s2s.checkpoint import export_checkpoint
from s2s.cli.main import main
from s2s.model.config import ModelConfig
from s2s.data.text.tokenizer import Tokenizer
from s2s.model.seq2seq import Seq2Seq
from s2s.model.info import CheckpointInfo

WORDS = {"en": "A Man walks The Dog on Main Street in NEW YORK".split(),
         "de": "Ein Mann führt den Hund über die Straße in ÖSTERREICH".split()}


@pytest.mark.parametrize("lowercase", [False, True])
def test_prepare_multi30k_keeps_or_folds_case_line_for_line(tmp_path, capsys, lowercase):
    source = multi30k_mirror(tmp_path / "mirror", words=WORDS)  # mixed case, upper-case umlauts
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

    # s2s evaluate warns that case-sensitive scores of a lower-case model mislead, unless --lowercase
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, num_heads=2,
                         encoder_layers=1, decoder_layers=1, ffn_dim=32, dropout=0.0, max_positions=64)
    checkpoint = tmp_path / "model.pt"
    export_checkpoint(Seq2Seq(config), tokenizer, CheckpointInfo(task="translation", src_lang="en", tgt_langs=("de",)), checkpoint)
    capsys.readouterr()
    for flags in ([], ["--lowercase"]):
        main(["evaluate", str(checkpoint), "--src", str(out / "test.en"), "--ref", str(out / "test.de"), *FAST, *flags])
        warned = "writes lower case only" in capsys.readouterr().err
        assert warned is (lowercase and not flags)
