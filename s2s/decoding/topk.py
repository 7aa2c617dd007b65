"""Top-k of every row of a vocabulary-wide score matrix, by blocks (faster than ``torch.topk`` for small k)."""

from __future__ import annotations

import torch
from torch import Tensor

BLOCK = 64  # columns per block


def row_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``scores (N, V)`` -> the ``k`` largest values of each row and their columns, both ``(N, k)``, largest first.

    The ``k`` largest entries of a row lie in the ``k`` blocks of ``BLOCK`` adjacent columns
    whose maxima are largest: every entry of any other block is at most its block's maximum,
    which ``k`` blocks' maxima beat, so ``k`` larger entries exist. One pass over the row finds
    the block maxima; the exact top-k then runs over ``k * BLOCK`` candidates instead of ``V``
    columns: ``torch.topk``'s per-row selection over a whole vocabulary is slow on a CPU (its
    effect on decoding: ``bench/decode.py``). Equal values may come back in another order than
    ``torch.topk`` gives them.
    """
    n, vocab = scores.shape
    blocks = vocab // BLOCK
    if blocks < 4 * k:
        return scores.topk(k, dim=1)
    block_max = scores[:, : blocks * BLOCK].reshape(n, blocks, BLOCK).amax(dim=2)  # (N, blocks)
    best_blocks = block_max.topk(k, dim=1).indices  # (N, k)
    columns = (best_blocks[:, :, None] * BLOCK + torch.arange(BLOCK, device=scores.device)).view(n, k * BLOCK)
    if vocab > blocks * BLOCK:  # the last, partial block is always a candidate
        tail = torch.arange(blocks * BLOCK, vocab, device=scores.device).expand(n, -1)
        columns = torch.cat([columns, tail], dim=1)
    values, position = scores.gather(1, columns).topk(k, dim=1)  # (N, k)
    return values, columns.gather(1, position)
