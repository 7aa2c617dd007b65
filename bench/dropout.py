"""Dropout forward + backward: s2s's ``dropout`` vs PyTorch's ``F.dropout``, one process, same tensor.

The tensor is the activation of a 4096-token batch of the benchmark model, ``(178, 23, 256)``
(bench/train.py's first batch has that shape), at p = 0.1. Times are medians over ``--runs``
calls of each, interleaved, after a warm-up.

    python bench/dropout.py [--threads 2] [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench/decode.py: set before torch starts OpenMP

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)

from s2s.nn.dropout import dropout  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--p", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(178, 23, 256, requires_grad=True)
    engines = {"F.dropout": lambda: F.dropout(x, args.p, training=True),
               "s2s dropout": lambda: dropout(x, args.p, training=True)}
    times: dict[str, list[float]] = {name: [] for name in engines}
    for run in range(args.runs + 1):
        for name, forward in engines.items():
            start = time.perf_counter()
            forward().sum().backward()
            if run:  # the first round warms up
                times[name].append(time.perf_counter() - start)
            x.grad = None
    print(f"machine: {describe()}")
    print(f"dropout p={args.p} forward + backward on {tuple(x.shape)} fp32, median of {args.runs}")
    reference = statistics.median(times["F.dropout"])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<12} {median * 1e3:7.2f} ms   {reference / median:5.2f}x F.dropout's speed")


if __name__ == "__main__":
    main()
