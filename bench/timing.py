"""Interleaved medians: the timing loop of bench/decode.py and bench/dropout.py."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")


def median_times(table: dict[str, Callable[[], R]], runs: int) -> dict[str, tuple[float, R]]:
    """One warm-up run each, then ``runs`` rounds that time every engine once, in turn.

    Interleaving the engines, rather than timing one engine's runs and then the next's, spreads
    any change in the load of a shared machine over all of them alike. Returns each engine's
    median seconds and what its warm-up run returned.
    """
    results = {name: run() for name, run in table.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(runs):
        for name, run in table.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), results[name]) for name in table}
