"""``s2s evaluate CKPT --src F --ref F``: sacrebleu BLEU, chrF and TER with their signatures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import DTYPES, add_decoding_arguments, check_device, decoding_options
from s2s.evaluation import evaluate_translation


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s evaluate", description=__doc__)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--src", type=Path, required=True, help="source sentences, one per line")
    p.add_argument("--ref", type=Path, required=True, help="reference translations, aligned with --src")
    p.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU/chrF/TER")
    p.add_argument("--tokenize", default="13a", choices=["13a", "intl", "char", "none"], help="BLEU tokenizer")
    p.add_argument("--hyp-out", type=Path, default=None, help="also write the translations here")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    add_decoding_arguments(p)
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    scores = evaluate_translation(
        loaded, options.src, options.ref, options=decoding_options(options), target_lang=options.tgt_lang,
        lowercase=options.lowercase, tokenize=options.tokenize, max_tokens=options.max_tokens,
        device=check_device(options.device), hypotheses_out=options.hyp_out, dtype=DTYPES[options.dtype],
        forced_prefix=options.prefix, workers=options.workers,
    )
    if options.json:
        print(json.dumps(scores, indent=2))
        return
    for name in ("bleu", "chrf", "ter"):
        print(f"{name.upper():<5} {scores[name]:6.2f}  {scores[name + '_signature']}")
