"""What subword sampling does to a corpus: for each alpha, the share of lines segmented
differently from the one best segmentation, the extra pieces, and the time to draw them.

    python tools/subword_sampling_stats.py data/multi30k/spm.model data/multi30k/train.de --lines 5000
"""

from __future__ import annotations

import argparse
import time

from s2s.data.text.corpus import read_lines
from s2s.data.text.tokenizer import Tokenizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spm_model")
    p.add_argument("text")
    p.add_argument("--lines", type=int, default=None, help="first N lines only (default all)")
    p.add_argument("--alphas", type=float, nargs="+", default=[1.0, 0.5, 0.3, 0.2])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    tokenizer = Tokenizer.from_file(args.spm_model)
    lines = read_lines(args.text)[: args.lines]
    best = tokenizer.encode_batch(lines)
    best_pieces = sum(map(len, best))
    print("| alpha | lines segmented differently | pieces per line | seconds to draw |")
    print("|---|---|---|---|")
    for alpha in args.alphas:
        tokenizer.seed_sampling(args.seed)
        start = time.perf_counter()
        sampled = tokenizer.sample_batch(lines, alpha=alpha)
        seconds = time.perf_counter() - start
        changed = sum(s != b for s, b in zip(sampled, best)) / len(lines)
        extra = sum(map(len, sampled)) / best_pieces - 1
        print(f"| {alpha} | {changed:.0%} | {extra:+.1%} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
