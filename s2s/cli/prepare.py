"""``s2s prepare CORPUS ...``: fetch a corpus (or copy a local one) and train its tokenizer."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s prepare", description=__doc__)
    sub = p.add_subparsers(dest="corpus", required=True)
    m = sub.add_parser("multi30k", help="Multi30k task 1 (en, de, fr, cs image captions)")
    m.add_argument("--src", default="en", help="source language (default en)")
    m.add_argument("--tgt", nargs="+", default=["de"], help="target language(s) (default de)")
    m.add_argument("--out", type=Path, default=Path("data/multi30k"), help="output folder (default data/multi30k)")
    m.add_argument("--from", dest="local", type=Path, default=None,
                   help="folder with a local copy of the .gz files (else download from the public source)")
    m.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece pieces (default 8000)")
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.corpus == "multi30k":
        from s2s.data.multi30k import prepare_multi30k

        langs = list(dict.fromkeys([options.src, *options.tgt]))
        prepare_multi30k(langs=langs, out=options.out, local=options.local, vocab_size=options.vocab_size)
