"""``s2s average CKPT... -o OUT`` or ``s2s average --last N RUN_DIR -o OUT``: average checkpoint weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2s.training.averaging import average_checkpoints, last_checkpoints


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s average", description=__doc__)
    p.add_argument("inputs", type=Path, nargs="+", help="checkpoints, or one run directory with --last")
    p.add_argument("--last", type=int, default=None, help="average the N newest checkpoints of a run directory")
    p.add_argument("-o", "--output", type=Path, required=True)
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.last is not None:
        if len(options.inputs) != 1 or not options.inputs[0].is_dir():
            raise ValueError("--last N takes exactly one run directory")
        paths = last_checkpoints(options.inputs[0], options.last)
    else:
        paths = options.inputs
    average_checkpoints(paths, options.output)
    print(f"averaged {len(paths)} checkpoints into {options.output}", file=sys.stderr)
