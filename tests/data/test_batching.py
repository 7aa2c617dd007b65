import random

import pytest
import torch

from s2s.data.batching import TokenBudgetBatchSampler, collate
from s2s.data.text.corpus import Example


def lengths(n=500, seed=0):
    rng = random.Random(seed)
    return [(rng.randint(2, 40), rng.randint(2, 40)) for _ in range(n)]


def test_batches_respect_budget_and_cover_every_example_once():
    lens = lengths()
    sampler = TokenBudgetBatchSampler(lens, max_tokens=300, shuffle=True, seed=1)
    seen = []
    for batch in sampler:
        assert len(batch) * max(max(lens[i]) for i in batch) <= 300
        seen += batch
    assert sorted(seen) == list(range(len(lens)))
    assert len(sampler) == len(list(sampler))


def test_shuffling_changes_with_epoch_but_is_reproducible():
    sampler = TokenBudgetBatchSampler(lengths(), max_tokens=300, shuffle=True, seed=1)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_ranks_get_distinct_batches_and_equal_counts():
    lens = lengths(501)
    shards = [list(TokenBudgetBatchSampler(lens, max_tokens=256, shuffle=True, seed=3, num_replicas=3, rank=r))
              for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    flat = [i for shard in shards for batch in shard for i in batch]
    assert len(flat) == len(set(flat))


def test_length_bucketing_keeps_padding_low():
    sampler = TokenBudgetBatchSampler(lengths(2000), max_tokens=4096, shuffle=True)
    assert sampler.padding_efficiency() > 0.7


def test_budget_smaller_than_an_example_is_refused():
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBudgetBatchSampler([(50, 3)], max_tokens=10, shuffle=False)


def test_collate_shifts_labels_and_hides_prefix():
    examples = [Example([10, 11, 3], [2, 7, 20, 21], 2, "ref", "src"), Example([12, 3], [2, 7, 22], 2, "r", "s")]
    batch = collate(examples, [5, 9], pad_id=0, eos_id=3)
    assert batch.source.tolist() == [[10, 11, 3], [12, 3, 0]]
    assert batch.source_lengths.tolist() == [3, 2]
    assert batch.target_in.tolist() == [[2, 7, 20, 21], [2, 7, 22, 0]]
    # position 0 (after BOS) would predict the forced tag 7: not trained
    assert batch.target_out.tolist() == [[0, 20, 21, 3], [0, 22, 3, 0]]
    assert batch.prefix.tolist() == [[2, 7], [2, 7]]
    assert batch.indices == [5, 9]
