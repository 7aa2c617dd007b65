"""The KV cache under beam search: rows swap ancestries and sentences leave, nothing is copied
per step, columns no row descends from are squeezed out, and every row's logits still equal a
full recomputation of that row's own history."""

from __future__ import annotations

import random

import pytest
import torch

from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config

BOS = 2


def full_recomputation(model: Seq2Seq, source, lengths, sentence_of_row: list[int], histories) -> torch.Tensor:
    rows = torch.tensor(sentence_of_row)
    target = torch.tensor(histories)  # (N, t): every row's whole history, no cache
    return model(source[rows], lengths[rows], target)[:, -1]  # (N, V)


def decode_with_random_reorders(prefix: list[int], collapse: float, steps: int = 12, beams: int = 4):
    """Beam-search-like reorders: each new row continues a random row of its own sentence (duplicates
    allowed), or with probability ``collapse`` all of a sentence's rows continue one row. The first
    step has one row per sentence and the cache widens to ``beams`` rows after it, as beam search
    does. Checks every step's logits against full recomputation; returns the cache."""
    torch.manual_seed(0)
    rng = random.Random(0)
    model = Seq2Seq(tiny_config(vocab_size=40, max_positions=64)).eval()
    batch = 3
    source = torch.randint(4, 40, (batch, 6))
    lengths = torch.tensor([6, 3, 5])
    rows = 1  # rows per sentence in the first step
    sentence_of_row = [b for b in range(batch) for _ in range(rows)]
    histories = [list(prefix) for _ in sentence_of_row]
    with torch.no_grad():
        cache = model.start_decoding(model.encode(source, lengths))
        logits = model.decode_step(torch.tensor(histories), cache)
        for step in range(steps + 1):
            torch.testing.assert_close(
                logits, full_recomputation(model, source, lengths, sentence_of_row, histories), rtol=1e-5, atol=1e-5
            )
            if step == steps:
                return cache
            live = sorted(set(sentence_of_row))
            if step == 5:  # sentence 1 finishes and leaves the batch
                live.remove(1)
            index = []
            for sentence in live:
                first = sentence_of_row.index(sentence)
                if rng.random() < collapse:
                    index += [first + rng.randrange(rows)] * beams
                else:
                    index += [first + rng.randrange(rows) for _ in range(beams)]
            cache.reorder(torch.tensor(index), beams=beams)  # the first reorder widens to K rows per sentence
            rows = beams
            sentence_of_row = [sentence_of_row[i] for i in index]
            tokens = [rng.randrange(4, 40) for _ in index]
            histories = [histories[i] + [t] for i, t in zip(index, tokens)]
            logits = model.decode_step(torch.tensor(tokens)[:, None], cache)


@pytest.mark.parametrize("collapse", [0.0, 0.5])
@pytest.mark.parametrize("prefix", [[BOS], [BOS, 7, 9]])
def test_rows_that_swap_ancestries_and_sentences_that_leave_match_recomputation(prefix, collapse):
    decode_with_random_reorders(prefix, collapse)


def test_beams_that_share_their_past_share_its_columns():
    """When every step's beams all continue one row, each past position has one live column: the cache
    stays about one column per position wide instead of K (the K new columns of the latest steps aside)."""
    beams = 4
    cache = decode_with_random_reorders([BOS], collapse=1.0, steps=20, beams=beams)
    assert cache.length == 21
    assert cache.column_position.shape[1] <= cache.length + 3 * beams  # K per position would be 84


def test_reorder_refuses_rows_from_another_sentence():
    model = Seq2Seq(tiny_config(vocab_size=40)).eval()
    with torch.no_grad():
        cache = model.start_decoding(model.encode(torch.randint(4, 40, (2, 5)), torch.tensor([5, 5])))
        model.decode_step(torch.full((2, 1), BOS), cache)
        cache.reorder(torch.tensor([0, 0, 1, 1]), beams=2)
        model.decode_step(torch.full((4, 1), BOS), cache)
        with pytest.raises(ValueError, match="same sentence"):
            cache.reorder(torch.tensor([0, 2, 2, 3]))  # sentence 0's second row taken from sentence 1
