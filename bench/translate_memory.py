"""Peak memory of ``s2s translate`` on 10k vs 200k input lines: streaming keeps it flat.

Each size runs the real CLI in its own process (``python -m s2s.cli.main translate -i IN -o OUT``)
and reads that process's peak resident set size from ``wait4``. The model is a randomly
initialised tiny Transformer over a real SentencePiece model, and decoding is capped at two
tokens a line: the figure of interest is how memory grows with the input, not translation speed.

    python bench/translate_memory.py --spm data/multi30k/spm.model --text data/multi30k/train.en
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from s2s.checkpoint import export_checkpoint
from s2s.data.text.tokenizer import Tokenizer
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq

ROOT = Path(__file__).resolve().parents[1]


def tiny_checkpoint(spm: Path, path: Path) -> None:
    tokenizer = Tokenizer.from_file(spm)
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        d_model=32,
        num_heads=4,
        encoder_layers=1,
        decoder_layers=1,
        ffn_dim=64,
        dropout=0.0,
        max_positions=128,
    )
    info = CheckpointInfo(task="translation", src_lang="en", tgt_langs=("de",))
    export_checkpoint(Seq2Seq(config), tokenizer, info, path)


def translate_peak_rss(checkpoint: Path, source: Path, output: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one ``s2s translate`` process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable,
        "-m",
        "s2s.cli.main",
        "translate",
        str(checkpoint),
        "-i",
        str(source),
        "-o",
        str(output),
        "--beam",
        "1",
        "--max-len-a",
        "0",
        "--max-len-b",
        "2",
    ]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"translate failed on {source}")
    return usage.ru_maxrss / 1024, seconds  # Linux reports KiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spm", type=Path, default=ROOT / "data" / "multi30k" / "spm.model")
    p.add_argument(
        "--text",
        type=Path,
        default=ROOT / "data" / "multi30k" / "train.en",
        help="sentences to cycle through to build the inputs",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    args = p.parse_args()
    sentences = [line for line in args.text.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        tiny_checkpoint(args.spm, checkpoint)
        for size in args.sizes:
            source, output = Path(tmp) / f"in{size}.txt", Path(tmp) / f"out{size}.txt"
            source.write_text(
                "".join(line + "\n" for line in itertools.islice(itertools.cycle(sentences), size)), encoding="utf-8"
            )
            rss, seconds = translate_peak_rss(checkpoint, source, output)
            outputs = output.read_text(encoding="utf-8").split("\n")[:-1]
            # The input cycles through the sentences, so line i and line i + period must translate
            # alike: a reordered (or shifted) output breaks this.
            period = len(sentences)
            in_order = len(outputs) == size and all(outputs[i] == outputs[i - period] for i in range(period, size))
            rows.append((size, source.stat().st_size / 2**20, rss, seconds, len(outputs), in_order))
    print(
        f"{'input lines':>12} {'input MiB':>10} {'peak RSS MiB':>13} {'seconds':>8} {'output lines':>13} {'in order':>9}"
    )
    for size, mib, rss, seconds, out_lines, in_order in rows:
        print(f"{size:>12,} {mib:>10.1f} {rss:>13.1f} {seconds:>8.1f} {out_lines:>13,} {str(in_order):>9}")
    small, large = rows[0], rows[-1]
    print(
        f"peak RSS {large[0]:,} vs {small[0]:,} lines: {large[2] / small[2]:.2f}x, for {large[0] / small[0]:.0f}x the input"
    )


if __name__ == "__main__":
    main()
