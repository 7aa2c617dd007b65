"""``s2s prepare CORPUS ...``: fetch a corpus (or copy a local one) and train its tokenizer."""

from __future__ import annotations

import argparse
from pathlib import Path


def corpus_parser(sub, name: str, summary: str, *, vocab_size: int, source: str) -> argparse.ArgumentParser:
    """A corpus's subcommand with the options every corpus has: --out, --from, --vocab-size."""
    p = sub.add_parser(name, help=summary)
    p.add_argument("--out", type=Path, default=Path(f"data/{name}"), help=f"output folder (default data/{name})")
    p.add_argument("--from", dest="local", type=Path, default=None, help=source)
    p.add_argument("--vocab-size", type=int, default=vocab_size, help=f"SentencePiece pieces (default {vocab_size})")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s prepare", description=__doc__)
    sub = p.add_subparsers(dest="corpus", required=True)
    m = corpus_parser(
        sub,
        "multi30k",
        "Multi30k task 1 (en, de, fr, cs image captions)",
        vocab_size=8000,
        source="folder with a local copy of the .gz files (else download from the public source)",
    )
    m.add_argument("--src", default="en", help="source language (default en)")
    m.add_argument("--tgt", nargs="+", default=["de"], help="target language(s) (default de)")
    m.add_argument(
        "--lowercase",
        action="store_true",
        help="lower-case all text, as the lower-cased Multi30k of fairseq's and many papers' baselines "
        "(the model then writes lower case only: score it with s2s evaluate --lowercase)",
    )
    a = corpus_parser(
        sub,
        "an4",
        "CMU AN4 read speech (validation/test speakers held out)",
        vocab_size=100,
        source="local copy with train.tsv and FLAC files (else download the SPHERE tarball)",
    )
    a.add_argument("--valid-speakers", type=int, default=5, help="speakers held out for validation (default 5)")
    a.add_argument(
        "--test-speakers",
        type=int,
        default=5,
        help="speakers held out for test, with --from (default 5; the tarball has its own test set)",
    )
    a.add_argument("--seed", type=int, default=1, help="seed of the speaker split (default 1)")
    a.add_argument(
        "--split",
        choices=["speakers", "espnet"],
        default="speakers",
        help="speakers: --valid-speakers/--test-speakers drawn at random (default); espnet: ESPnet's "
        "AN4 recipe's dev set (the first 100 utterances by speaker, 8 speakers) for validation, "
        "and for test too from a local copy, to compare with ESPnet's published dev WER",
    )
    f = sub.add_parser("fsdd", help="Free Spoken Digit Dataset (recordings held out by index)")
    f.add_argument("--out", type=Path, default=Path("data/fsdd"), help="output folder (default data/fsdd)")
    f.add_argument(
        "--from",
        dest="local",
        type=Path,
        required=True,
        help="FSDD folder holding recordings/ (a clone of Jakobovski/free-spoken-digit-dataset)",
    )
    f.add_argument(
        "--vocab-size",
        type=int,
        default=40,
        help="SentencePiece pieces, at most (default 40; word-level: one piece per digit)",
    )
    f.add_argument("--valid-count", type=int, default=5, help="first indices of each speaker/digit for validation")
    f.add_argument("--test-count", type=int, default=5, help="next indices for test (default 5)")
    y = sub.add_parser("synth", help="speech synthesized with espeak-ng for a parallel text corpus (default Multi30k)")
    y.add_argument("--out", type=Path, default=Path("data/synth_ende"), help="output folder (default data/synth_ende)")
    y.add_argument(
        "--from",
        dest="local",
        type=Path,
        default=None,
        help="folder with {train,valid,test}.{lang} text or the Multi30k .gz files (else download Multi30k)",
    )
    y.add_argument("--src", default="en", help="language of the text spoken (default en)")
    y.add_argument("--tgt", default="de", help="language of the target text (default de)")
    y.add_argument("--train-limit", type=int, default=None, help="first N training sentences only (default all)")
    y.add_argument("--eval-limit", type=int, default=None, help="first N valid/test sentences only (default all)")
    y.add_argument("--workers", type=int, default=2, help="parallel espeak-ng processes (default 2)")
    y.add_argument("--vocab-size", type=int, default=8000, help="SentencePiece pieces (default 8000)")
    y.add_argument("--seed", type=int, default=1, help="seed of the voice, speed and pitch draws (default 1)")
    y.add_argument(
        "--transcripts",
        action="store_true",
        help="also list every recording with its transcript as the target: train both tasks with "
        "data.task=auto data.tgt_langs=[de,en], or recognition alone with data.tgt_langs=[en]",
    )
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.corpus == "multi30k":
        from s2s.data.prepare.multi30k import prepare_multi30k

        langs = list(dict.fromkeys([options.src, *options.tgt]))
        prepare_multi30k(
            langs=langs,
            out=options.out,
            local=options.local,
            vocab_size=options.vocab_size,
            lowercase=options.lowercase,
        )
    elif options.corpus == "an4":
        from s2s.data.prepare.an4 import prepare_an4

        prepare_an4(
            out=options.out,
            local=options.local,
            vocab_size=options.vocab_size,
            valid_speakers=options.valid_speakers,
            test_speakers=options.test_speakers,
            seed=options.seed,
            split=options.split,
        )
    elif options.corpus == "fsdd":
        from s2s.data.prepare.fsdd import prepare_fsdd

        prepare_fsdd(
            out=options.out,
            local=options.local,
            vocab_size=options.vocab_size,
            valid_count=options.valid_count,
            test_count=options.test_count,
        )
    elif options.corpus == "synth":
        from s2s.data.prepare.synth import prepare_synth

        limits = {"train": options.train_limit, "valid": options.eval_limit, "test": options.eval_limit}
        prepare_synth(
            out=options.out,
            local=options.local,
            src_lang=options.src,
            tgt_lang=options.tgt,
            limits=limits,
            workers=options.workers,
            vocab_size=options.vocab_size,
            seed=options.seed,
            transcripts=options.transcripts,
        )
