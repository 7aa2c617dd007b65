"""TokenBudgetBatchSampler under data parallelism: distinct batches, equal counts, exact mid-epoch resume."""

from __future__ import annotations

import random

import pytest

from s2s.data.batching import TokenBudgetBatchSampler


def corpus(n: int, seed: int = 0) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(3, 60), rng.randint(3, 60)) for _ in range(n)]


def samplers(lengths, replicas: int, **kwargs) -> list[TokenBudgetBatchSampler]:
    return [
        TokenBudgetBatchSampler(lengths, max_tokens=400, num_replicas=replicas, rank=r, **kwargs)
        for r in range(replicas)
    ]


@pytest.mark.parametrize("replicas", [2, 3, 4])
@pytest.mark.parametrize("n", [37, 500])
def test_training_ranks_get_distinct_batches_and_equal_counts(replicas, n):
    lengths = corpus(n)
    single = TokenBudgetBatchSampler(lengths, max_tokens=400, shuffle=True, seed=3)
    for epoch in range(3):
        ranks = samplers(lengths, replicas, shuffle=True, seed=3)
        for s in ranks + [single]:
            s.set_epoch(epoch)
        per_rank = [list(s) for s in ranks]
        counts = {len(batches) for batches in per_rank}
        assert counts == {len(ranks[0])} == {len(list(single)) // replicas}  # equal, and what len() says
        seen = [i for batches in per_rank for batch in batches for i in batch]
        assert len(seen) == len(set(seen))  # no example on two ranks, none twice
        all_batches = [tuple(b) for b in single]
        assert {tuple(b) for batches in per_rank for b in batches} <= set(all_batches)  # same batches as 1 process
        assert len(all_batches) - len(per_rank[0]) * replicas < replicas  # fewer than R batches dropped


def test_epochs_reshuffle_identically_on_every_rank():
    lengths = corpus(300)
    a, b = samplers(lengths, 2, shuffle=True, seed=1)
    a.set_epoch(0)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first  # a new order each epoch
    a.set_epoch(0)
    assert list(a) == first  # ... that depends only on (seed, epoch): ranks agree without talking


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_evaluation_padding_covers_every_example_with_equal_counts(replicas):
    lengths = corpus(101)
    ranks = samplers(lengths, replicas, shuffle=False, pad=True)
    per_rank = [list(s) for s in ranks]
    assert len({len(batches) for batches in per_rank}) == 1 and len(per_rank[0]) == len(ranks[0])
    seen = {i for batches in per_rank for batch in batches for i in batch}
    assert seen == set(range(len(lengths)))


def test_resume_skips_exactly_the_trained_batches_of_that_epoch_only():
    lengths = corpus(400)
    full = samplers(lengths, 2, shuffle=True, seed=5)[1]
    full.set_epoch(2)
    expected = list(full)
    resumed = samplers(lengths, 2, shuffle=True, seed=5)[1]
    resumed.skip_on_resume(epoch=2, batches_done=3)
    resumed.set_epoch(2)
    assert list(resumed) == expected[3:]
    assert list(resumed) == expected  # the skip applies to the first pass only
    other = samplers(lengths, 2, shuffle=True, seed=5)[1]
    other.skip_on_resume(epoch=1, batches_done=3)  # saved at the end of epoch 1: the loop starts epoch 2
    other.set_epoch(2)
    assert list(other) == expected


def test_rank_must_be_in_range():
    with pytest.raises(ValueError, match="rank=2"):
        TokenBudgetBatchSampler(corpus(10), max_tokens=400, shuffle=False, num_replicas=2, rank=2)
