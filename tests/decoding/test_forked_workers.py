"""Forked decoding workers (s2s/decoding/forked.py): the outputs of one decoding loop, a fresh
snapshot whenever the model changes, errors that reach the caller, and threads where fork is not used."""

from __future__ import annotations

import random

import pytest
import torch

from s2s.decoding import DecodingOptions, forked, generate
from s2s.decoding.parallel import generate_parallel
from s2s.errors import WorkerError
from tests.decoding.test_correctness import BOS, EOS, PAD, batch_of, make_model, random_sentence

pytestmark = pytest.mark.usefixtures("one_thread")
needs_fork = pytest.mark.skipif(not forked.AVAILABLE, reason="forked workers are Linux-only")


def both_ways(model, options: DecodingOptions, seed: int = 7):
    """(one loop, 2 workers) token lists for 7 random sentences."""
    rng = random.Random(seed)
    source, lengths, prefix = batch_of([random_sentence(rng, 40) for _ in range(7)])
    kwargs = dict(options=options, eos_id=EOS, suppress_ids=[PAD, BOS])
    together = generate(model, source, lengths, prefix, **kwargs)
    split = generate_parallel(model, source, lengths, prefix, workers=2, **kwargs)
    return [[h.tokens for h in hyps] for hyps in together], [[h.tokens for h in hyps] for hyps in split]


@needs_fork
def test_workers_follow_the_weights_when_they_change():
    model = make_model(40, seed=7)
    together, split = both_ways(model, DecodingOptions(beam_size=3))
    assert split == together
    with torch.no_grad():  # an optimizer step, in effect: the forked snapshot is stale
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    changed_together, changed_split = both_ways(model, DecodingOptions(beam_size=3))
    assert changed_together != together  # the change matters, so the next line proves something
    assert changed_split == changed_together


@needs_fork
def test_a_new_model_gets_new_workers():
    for seed in (1, 2, 3):  # each model may reuse the freed memory of the one before
        together, split = both_ways(make_model(40, seed=seed), DecodingOptions())
        assert split == together


@needs_fork
def test_a_worker_error_reaches_the_caller():
    with pytest.raises(ValueError, match="no CTC head"):
        both_ways(make_model(40, seed=7), DecodingOptions(beam_size=2, ctc_weight=0.5))
    together, split = both_ways(make_model(40, seed=7), DecodingOptions())  # the pool still works
    assert split == together


def test_threads_where_fork_is_not_used(monkeypatch):
    monkeypatch.setattr(forked, "AVAILABLE", False)
    together, split = both_ways(make_model(40, seed=7), DecodingOptions(beam_size=2))
    assert split == together


@needs_fork
def test_a_killed_worker_is_one_clear_error_and_the_next_call_forks_anew():
    model = make_model(40, seed=7)
    both_ways(model, DecodingOptions())  # the pool exists
    for process in forked.pool_for(model, 2).executor._processes.values():
        process.kill()  # as the kernel's out-of-memory killer would
    with pytest.raises(WorkerError, match="worker process died"):
        both_ways(model, DecodingOptions())
    together, split = both_ways(model, DecodingOptions())
    assert split == together
