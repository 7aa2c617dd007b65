"""``s2s evaluate CKPT --src F --ref F``: sacrebleu BLEU, chrF and TER with their signatures.

``s2s evaluate CKPT --manifest test.tsv`` scores a speech checkpoint on a manifest's audio:
WER and CER for speech recognition, BLEU and chrF for speech translation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import (
    add_decoding_arguments,
    apply_head_mask,
    check_device,
    decoding_dtype,
    decoding_options,
    refuse_text_only_options,
)
from s2s.inference.evaluation import evaluate_speech, evaluate_translation
from s2s.metrics import NORMALIZERS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s evaluate", description=__doc__)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--src", type=Path, default=None, help="source sentences, one per line")
    p.add_argument("--ref", type=Path, default=None, help="reference translations, aligned with --src")
    p.add_argument("--manifest", type=Path, default=None, help="speech checkpoints: a manifest TSV (audio + target)")
    p.add_argument("--lowercase", action="store_true", help="case-insensitive BLEU/chrF/TER")
    p.add_argument(
        "--normalize",
        choices=NORMALIZERS,
        default=None,
        help="speech recognition: score WER after Whisper's English text normalizer (the raw WER is printed too)",
    )
    p.add_argument("--tokenize", default="13a", choices=["13a", "intl", "char", "none"], help="BLEU tokenizer")
    p.add_argument("--hyp-out", type=Path, default=None, help="also write the translations here")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    add_decoding_arguments(p)
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    apply_head_mask(loaded.model, options)
    if options.manifest is not None:
        return evaluate_manifest(loaded, options)
    if options.src is None or options.ref is None:
        raise ValueError("give --src and --ref (text) or --manifest (speech)")
    if options.normalize is not None:
        raise ValueError("--normalize scores speech transcripts (--manifest); BLEU has --lowercase and --tokenize")
    if loaded.tokenizer.writes_lower_case and not options.lowercase:
        print(
            "warning: this model writes lower case only (it was trained on lower-cased text): case-sensitive "
            "scores count every capital of the references as an error; add --lowercase",
            file=sys.stderr,
        )
    scores = evaluate_translation(
        loaded,
        options.src,
        options.ref,
        options=decoding_options(options, loaded),
        target_lang=options.tgt_lang,
        lowercase=options.lowercase,
        tokenize=options.tokenize,
        max_tokens=options.max_tokens,
        device=check_device(options.device),
        hypotheses_out=options.hyp_out,
        dtype=decoding_dtype(options),
        forced_prefix=options.prefix,
        workers=options.workers,
    )
    if options.json:
        print(json.dumps(scores, indent=2))
        return
    for name in ("bleu", "chrf", "ter"):
        print(f"{name.upper():<5} {scores[name]:6.2f}  {scores[name + '_signature']}")


def evaluate_manifest(loaded, options: argparse.Namespace) -> None:
    refuse_text_only_options(options)
    decoding = decoding_options(options, loaded)
    scores = evaluate_speech(
        loaded,
        options.manifest,
        options=decoding,
        target_lang=options.tgt_lang,
        device=check_device(options.device),
        hypotheses_out=options.hyp_out,
        dtype=decoding_dtype(options),
        workers=options.workers,
        lowercase=options.lowercase,
        tokenize=options.tokenize,
        normalize=options.normalize,
    )
    if options.json:
        print(json.dumps(scores, indent=2))
        return
    raw = scores.get("raw", {})
    for name in ("wer", "cer", "bleu", "chrf"):
        if name in scores:
            signature = scores.get(name + "_signature")
            note = (
                f"  {signature}" if signature else f"  (Whisper-normalized; as written {raw[name]:.2f})" if raw else ""
            )
            print(f"{name.upper():<5} {scores[name]:6.2f}{note}")
    print(f"({scores['utterances']} utterances, beam {decoding.beam_size}, ctc weight {decoding.ctc_weight})")
