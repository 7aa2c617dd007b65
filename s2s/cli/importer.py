"""``s2s import hf-marian|whisper SRC OUT``: convert another toolkit's model into one s2s checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s import", description=__doc__)
    sub = p.add_subparsers(dest="kind", required=True)
    m = sub.add_parser("hf-marian", help="a Hugging Face Marian / OPUS-MT model folder")
    m.add_argument("folder", type=Path, help="folder with config.json, weights, source.spm, target.spm, vocab.json")
    m.add_argument("out", type=Path, help="the s2s checkpoint to write (e.g. opus-mt-en-de.pt)")
    w = sub.add_parser("whisper", help="an OpenAI Whisper model: OpenAI's .pt, a Hugging Face or a CTranslate2 folder")
    w.add_argument(
        "source",
        type=Path,
        help="OpenAI's .pt, or a folder with config.json + weights (Hugging Face) "
        "or model.bin (CTranslate2 / faster-whisper)",
    )
    w.add_argument("out", type=Path, help="the s2s checkpoint to write (e.g. whisper-tiny.en.pt)")
    w.add_argument(
        "--tokenizer",
        type=Path,
        default=None,
        help="Whisper's tokenizer.json, for OpenAI's .pt (which holds none; default: beside the .pt)",
    )
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.kind == "hf-marian":
        from s2s.importers.hf_marian import import_hf_marian

        import_hf_marian(options.folder, options.out)
    else:
        from s2s.importers.whisper import import_whisper

        import_whisper(options.source, options.out, options.tokenizer)
    print(f"wrote {options.out}")
