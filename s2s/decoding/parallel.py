"""Decode one batch with several single-threaded workers instead of one multi-threaded loop.

A decoding step is a few dozen small kernels. Split across T OpenMP threads, every kernel ends
in a barrier where the threads wait for each other, and on a loaded machine a thread that lost
its core stalls all of them. ``W`` workers, each decoding ``1/W`` of the sentences on one
thread, use the same cores without a single barrier: CTranslate2 calls this ``inter_threads``.
The workers are forked processes on Linux (s2s/decoding/forked.py: threads would queue for
Python's interpreter lock) and threads elsewhere. Outputs are identical to one ``generate`` call
over the whole batch, because a sentence's output never depends on the other sentences in its batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from s2s.decoding import forked
from s2s.decoding.hypothesis import Hypothesis
from s2s.decoding.options import DecodingOptions
from s2s.decoding.search import generate

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def worker_pool(workers: int) -> ThreadPoolExecutor:
    with _lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="s2s-decode")
        return _pools[workers]


def decode_parts_threaded(
    model, workers: int, parts: list[slice], source: Tensor, source_lengths: Tensor, prefix: Tensor, **kwargs
) -> list[list[list[Hypothesis]]]:
    """Each part decoded by one thread. Sets torch's intra-op thread count to 1 while it runs
    (restored after): ``workers`` threads in all."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        futures = [
            worker_pool(workers).submit(generate, model, source[p], source_lengths[p], prefix[p], **kwargs)
            for p in parts
        ]
        return [future.result() for future in futures]
    finally:
        torch.set_num_threads(previous)


def generate_parallel(
    model,
    source: Tensor,
    source_lengths: Tensor,
    prefix: Tensor,
    *,
    options: DecodingOptions,
    eos_id: int,
    suppress_ids: list[int],
    workers: int,
    suppress_at_start: Sequence[int] = (),
    rules: Sequence = (),
) -> list[list[Hypothesis]]:
    """:func:`generate` with the sentences dealt round-robin into ``workers`` parts, one worker each.

    Round-robin, because a caller that sorts sentences by length would otherwise give one
    worker all the long ones. Sampling draws from one generator per part, so sampled outputs
    differ from ``generate``. A source on another device than the CPU is decoded in one loop.
    """
    batch = source.shape[0]
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or batch < 2 or source.device.type != "cpu":  # workers are for CPU cores
        return generate(
            model,
            source,
            source_lengths,
            prefix,
            options=options,
            eos_id=eos_id,
            suppress_ids=suppress_ids,
            suppress_at_start=suppress_at_start,
            rules=rules,
        )
    parts = [slice(i, None, workers) for i in range(min(workers, batch))]  # sentence i goes to part i % W
    decode_parts = forked.decode_parts if forked.AVAILABLE else decode_parts_threaded
    results = decode_parts(
        model,
        workers,
        parts,
        source,
        source_lengths,
        prefix,
        options=options,
        eos_id=eos_id,
        suppress_ids=suppress_ids,
        suppress_at_start=suppress_at_start,
        rules=rules,
    )
    return [results[i % len(parts)][i // len(parts)] for i in range(batch)]
