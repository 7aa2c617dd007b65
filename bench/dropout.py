"""Dropout forward + backward: s2s's ``dropout`` vs PyTorch's ``F.dropout``, one process, same tensor.

The tensor is the activation of a 4096-token batch of the benchmark model, ``(178, 23, 256)``
(bench/train.py's first batch has that shape), at p = 0.1. Times are medians over ``--runs``
calls of each, interleaved, after a warm-up (bench/timing.py).

    python bench/dropout.py [--threads 2] [--runs 50]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench/decode.py: set before torch starts OpenMP

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from machine import describe  # noqa: E402  (bench/machine.py)
from timing import median_times  # noqa: E402  (bench/timing.py)

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

    def forward_backward(drop) -> Callable[[], None]:
        def run() -> None:
            drop(x, args.p, training=True).sum().backward()
            x.grad = None

        return run

    times = median_times(
        {"F.dropout": forward_backward(F.dropout), "s2s dropout": forward_backward(dropout)}, args.runs
    )
    print(f"machine: {describe()}")
    print(f"dropout p={args.p} forward + backward on {tuple(x.shape)} fp32, median of {args.runs}")
    reference = times["F.dropout"][0]
    for name, (median, _) in times.items():
        print(f"{name:<12} {median * 1e3:7.2f} ms   {reference / median:5.2f}x F.dropout's speed")


if __name__ == "__main__":
    main()
