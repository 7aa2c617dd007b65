"""``s2s import hf-marian DIR OUT``: convert another toolkit's model into one s2s checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s import", description=__doc__)
    sub = p.add_subparsers(dest="kind", required=True)
    m = sub.add_parser("hf-marian", help="a Hugging Face Marian / OPUS-MT model folder")
    m.add_argument("folder", type=Path, help="folder with config.json, weights, source.spm, target.spm, vocab.json")
    m.add_argument("out", type=Path, help="the s2s checkpoint to write (e.g. opus-mt-en-de.pt)")
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.kind == "hf-marian":
        from s2s.importers.hf_marian import import_hf_marian

        import_hf_marian(options.folder, options.out)
        print(f"wrote {options.out}")
