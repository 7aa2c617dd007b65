"""Whether bf16 pays on this CPU, and the training precision that follows from it.

oneDNN computes bf16 natively only on CPUs with AVX-512 (fastest with AVX512-BF16 or AMX). On
others (AVX2 only: many AMD EPYC and older Intel parts) PyTorch still runs bf16, emulated
and several times slower than fp32: on a 2-core AVX2 AMD EPYC, ``bench/decode.py`` decoded 4.8x
(beam 5) and 3.5x (greedy) slower in bf16 (docs/design/decoding.md, "A CPU without AVX-512"). A recipe
that asks for bf16 (they do, for the AVX-512 machines they were tuned on) would spend its time
budget on a fraction of its updates, so training on such a CPU runs in fp32 instead, and says so.
"""

from __future__ import annotations

import torch

NO_FAST_BF16 = "this CPU has no native bf16 (oneDNN needs AVX-512; it has {capability})"


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN runs bf16 natively (AVX-512 and up), so bf16 is faster than fp32."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def slow_bf16_reason() -> str:
    """Why bf16 is slow here, in words: for warnings."""
    return NO_FAST_BF16.format(capability=torch.backends.cpu.get_cpu_capability())


def trains_on_cpu(accelerator: str) -> bool:
    """Lightning's ``accelerator`` setting resolved as Lightning does: ``auto`` takes a GPU when there is one."""
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def training_precision(precision: str | int, accelerator: str, *, fallback: bool) -> tuple[str | int, str | None]:
    """The Lightning precision to train with, and a note when it differs from the one asked for.

    bf16 on a CPU without native bf16 becomes ``32-true`` when ``fallback`` is set (the
    ``cpu_bf16_fallback`` config key); anything else is kept as asked.
    """
    asked = str(precision)
    if not (fallback and asked.startswith("bf16") and trains_on_cpu(accelerator) and not cpu_has_fast_bf16()):
        return precision, None
    return "32-true", (
        f"trainer.precision={asked} -> 32-true: {slow_bf16_reason()}, and emulated bf16 is "
        f"several times slower than fp32 here (cpu_bf16_fallback=false keeps {asked})"
    )
