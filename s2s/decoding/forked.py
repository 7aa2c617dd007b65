"""Forked decoding workers: single-threaded processes that each see the parent's model, uncopied.

Why processes and not threads: Python threads share one interpreter lock, and a tensor op holds
it while it is dispatched (argument parsing, shape checks, allocation); only the kernel runs
without it. A greedy decoding step is hundreds of small ops, so two decoding threads mostly wait
for each other. Measured with the benchmark's model (d_model 256, 3+3 layers, vocabulary 8000,
32 new tokens) on a 2-core AMD EPYC: one thread decodes 16 sentences greedily in 0.17 s and two
processes doing that side by side each still take 0.17 s, while two threads splitting 32
sentences took 0.24-0.31 s, no faster than one thread decoding all 32 (docs/design/decoding.md).

A pool is forked once per model and reused while that model object is alive and its parameters
and buffers are the same tensors at the same versions; an optimizer step, ``load_state_dict``,
``.to(dtype)`` or another model makes a new pool. Fork happens after the weights are prepacked
(s2s/nn/linear.py), so the children inherit the packed copies too: copy-on-write, nothing is
copied unless written. Each child runs one intra-op thread and ignores Ctrl-C (the parent
handles it). Linux only: elsewhere fork is unsafe or missing and threads do the work.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import sys
import threading
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain

import torch
from torch import Tensor, nn

from s2s.decoding.hypothesis import Hypothesis
from s2s.decoding.options import DecodingOptions
from s2s.decoding.search import generate
from s2s.errors import WorkerError
from s2s.nn.linear import prepack, prepacking, prepacking_enabled

AVAILABLE = sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()

_child_model: nn.Module | None = None  # in a child: the model it was forked with


def fingerprint(model: nn.Module) -> tuple:
    """What a forked snapshot of ``model`` must still match: mode, and each tensor's storage, dtype and version."""
    tensors = chain(model.parameters(), model.buffers())
    return model.training, tuple((t.data_ptr(), t.dtype, t._version) for t in tensors)


def _adopt(model: nn.Module) -> None:
    """Child initializer: keep the model (inherited through fork, not pickled), one thread, no Ctrl-C.

    A warning in a child goes straight to the real stderr: the parent's may be a progress bar's
    proxy (rich), whose lock a thread of the parent could have held at the moment of the fork.
    """
    global _child_model
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)
    _child_model = model


def _decode(
    tensors: bytes,
    packed: bool,
    options: DecodingOptions,
    eos_id: int,
    suppress_ids: list[int],
    suppress_at_start: list[int],
    rules: list,
) -> list[list[Hypothesis]]:
    """In a child: :func:`generate` on its part of the batch (tensors pickled by value, any dtype)."""
    source, source_lengths, prefix = pickle.loads(tensors)
    with prepacking(packed):
        return generate(
            _child_model,
            source,
            source_lengths,
            prefix,
            options=options,
            eos_id=eos_id,
            suppress_ids=suppress_ids,
            suppress_at_start=suppress_at_start,
            rules=rules,
        )


class ForkedPool:
    """``workers`` processes forked with ``model``; ``matches`` says whether they still hold it as it is."""

    def __init__(self, model: nn.Module, workers: int) -> None:
        prepack(model)  # before fork, so every child inherits the packed weights
        self.model, self.workers, self.fingerprint = weakref.ref(model), workers, fingerprint(model)
        self.executor = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_adopt, initargs=(model,)
        )

    def matches(self, model: nn.Module, workers: int) -> bool:
        return self.model() is model and self.workers == workers and self.fingerprint == fingerprint(model)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


MAX_POOLS = 4  # models with live pools at once (a benchmark alternates between a few; the CLI has one)
_pools: dict[int, ForkedPool] = {}  # id(model) -> its pool
_lock = threading.Lock()


def pool_for(model: nn.Module, workers: int) -> ForkedPool:
    """The pool holding ``model`` as it is now; forked anew when there is none. Pools of models that
    died or changed are closed, and the oldest beyond ``MAX_POOLS``."""
    for key, pool in list(_pools.items()):
        if pool.model() is None or (pool.model() is model and not pool.matches(model, workers)):
            _pools.pop(key).close()
    if id(model) not in _pools:
        while len(_pools) >= MAX_POOLS:
            _pools.pop(next(iter(_pools))).close()
        _pools[id(model)] = ForkedPool(model, workers)
    return _pools[id(model)]


def decode_parts(
    model: nn.Module,
    workers: int,
    parts: list[slice],
    source: Tensor,
    source_lengths: Tensor,
    prefix: Tensor,
    *,
    options: DecodingOptions,
    eos_id: int,
    suppress_ids: list[int],
    suppress_at_start: Sequence[int] = (),
    rules: Sequence = (),
) -> list[list[list[Hypothesis]]]:
    """Each part of the batch (at most ``workers``) decoded by one forked worker; results in the order of ``parts``."""
    with _lock:  # one batch at a time: a pool's workers are all busy with it
        pool = pool_for(model, workers)
        packed = prepacking_enabled()
        try:
            inputs = [
                pickle.dumps([t[p].clone() for t in (source, source_lengths, prefix)])  # clone: a view
                for p in parts
            ]  # would pickle the whole batch
            futures = [
                pool.executor.submit(
                    _decode, part, packed, options, eos_id, suppress_ids, list(suppress_at_start), list(rules)
                )
                for part in inputs
            ]
            return [future.result() for future in futures]
        except BrokenProcessPool as error:
            _pools.pop(id(model), None)
            raise WorkerError(
                "a decoding worker process died (out of memory?); decode with fewer workers or --workers 1"
            ) from error
