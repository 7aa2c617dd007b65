"""The blocked top-k equals torch.topk: same values, columns that hold them, on ties and -inf too."""

from __future__ import annotations

import pytest
import torch

from s2s.decoding.topk import row_topk


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
