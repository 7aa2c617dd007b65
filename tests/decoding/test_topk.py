"""The blocked top-k equals torch.topk: same values, columns that hold them, on ties and -inf too,
for single rows and for groups of rows with offsets (a sentence's beams and their scores)."""

from __future__ import annotations

import pytest
import torch

from s2s.decoding.topk import group_topk, row_topk


@pytest.mark.parametrize("vocab", [8000, 8003, 500, 37])
@pytest.mark.parametrize("k", [1, 2, 10])
def test_blocked_topk_equals_torch_topk(vocab, k):
    g = torch.Generator().manual_seed(vocab + k)
    scores = torch.randn(50, vocab, generator=g)
    scores[:5] = scores[:5].round()  # many ties
    scores[5:10, : vocab // 2] = float("-inf")  # suppressed tokens
    scores[10, -1] = 100.0  # the best entry in the last, partial block
    values, columns = row_topk(scores, k)
    expected = scores.topk(k, dim=1).values
    torch.testing.assert_close(values, expected)
    torch.testing.assert_close(scores.gather(1, columns), values)
    assert all(len(set(row)) == k for row in columns.tolist())  # k different columns per row


@pytest.mark.parametrize("vocab", [8000, 8003, 37])
@pytest.mark.parametrize("group", [1, 5])
def test_grouped_topk_equals_torch_topk_over_the_groups_offset_rows(vocab, group):
    k = 2 * group
    g = torch.Generator().manual_seed(vocab + group)
    scores = torch.randn(6 * group, vocab, generator=g)
    scores[:group] = scores[:group].round()  # ties within the first group
    offset = torch.randn(6 * group, generator=g)
    offset[group + 1 : 2 * group] = float("-inf")  # the second group: only its first row may extend (step one)
    scores[-1, -1] = 100.0  # the best entry in the last, partial block
    values, row, column = group_topk(scores, k, group=group, offset=offset)
    expected = (scores + offset[:, None]).view(6, group * vocab).topk(k, dim=1).values
    torch.testing.assert_close(values, expected)
    rows = row + torch.arange(6)[:, None] * group  # (G, k) rows of scores
    torch.testing.assert_close(scores[rows, column] + offset[rows], values)
    assert all(len(set(zip(r, c))) == k for r, c in zip(row.tolist(), column.tolist()))  # k different entries
