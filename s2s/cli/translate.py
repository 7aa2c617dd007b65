"""``s2s translate CKPT``: one output line per input line, stdin to stdout (or -i/-o files).

With ``--nbest N`` each output line holds N tab-separated ``text<TAB>score`` pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import add_decoding_arguments, apply_head_mask, check_device, decoding_dtype, decoding_options
from s2s.data.text.corpus import utf8_lines
from s2s.errors import DataError
from s2s.inference.translator import Translator


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s2s translate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument("-i", "--input", type=Path, default=None, help="input file (default stdin)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output file (default stdout)")
    add_decoding_arguments(p)
    return p


def format_line(translation, nbest: int) -> str:
    if nbest == 1:
        text = translation.text
    else:
        text = "\t".join(f"{t}\t{score:.4f}" for t, score in translation.nbest)
    return text.replace("\n", " ").replace("\r", " ") + "\n"


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    decoding = decoding_options(options, loaded)
    apply_head_mask(loaded.model, options)
    translator = Translator(
        loaded,
        options=decoding,
        target_lang=options.tgt_lang,
        max_tokens=options.max_tokens,
        device=check_device(options.device),
        dtype=decoding_dtype(options),
        forced_prefix=options.prefix,
        workers=options.workers,
    )
    if options.input is not None and not options.input.is_file():
        raise DataError(f"input {'is not a file' if options.input.exists() else 'file not found'}: {options.input}")
    interactive = options.input is None and sys.stdin.isatty()
    if interactive:
        print("s2s translate: type a sentence and press Enter (Ctrl-D to quit)", file=sys.stderr)
    with contextlib.ExitStack() as files:  # closes the files we open, never stdin/stdout
        source = files.enter_context(open(options.input, "rb")) if options.input else sys.stdin.buffer
        out = files.enter_context(open(options.output, "w", encoding="utf-8")) if options.output else sys.stdout
        lines = utf8_lines(source, str(options.input or "stdin"))
        translations = (
            (t for line in lines for t in translator.translate([line])) if interactive else translator.translate(lines)
        )
        for translation in translations:
            out.write(format_line(translation, decoding.nbest))
            if interactive:
                out.flush()
