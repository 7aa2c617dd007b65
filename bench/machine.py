"""One line naming the machine a benchmark ran on: figures from different CPUs do not compare.

This project's development machine has been an Intel CPU with AMX in some sessions and an AMD
one in others; MKL and oneDNN choose different kernels on each (docs/design/decoding.md).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

FLAGS = ("avx512f", "avx512_bf16", "amx_tile")  # the instruction sets that change which kernels run


def describe() -> str:
    """E.g. ``AMD EPYC, 2 cores (avx512f avx512_bf16), torch 2.14.1+cu130, 2 threads``."""
    name, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    isa = " ".join(flag for flag in FLAGS if flag in flags) or "no AVX-512"
    cores = len(os.sched_getaffinity(0))
    return f"{name}, {cores} cores ({isa}), torch {torch.__version__}, {torch.get_num_threads()} threads"
