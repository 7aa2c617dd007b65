"""Top-k over a vocabulary-wide score matrix, by blocks (faster than ``torch.topk`` for small k).

The ``k`` largest entries of a set of rows lie in the ``k`` blocks of ``BLOCK`` adjacent columns
whose maxima are largest: every entry of any other block is at most its block's maximum, which
``k`` blocks' maxima beat, so ``k`` larger entries exist. One pass over the scores finds the block
maxima; the exact top-k then runs over ``k * BLOCK`` candidates instead of every column:
``torch.topk``'s per-row selection over a whole vocabulary is slow on a CPU, and so are many
small per-row selections (its effect on decoding: ``bench/decode.py``). Equal values may come
back in another order than ``torch.topk`` gives them.
"""

from __future__ import annotations

import torch
from torch import Tensor

BLOCK = 64  # columns per block


def group_topk(scores: Tensor, k: int, group: int = 1, offset: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The ``k`` largest ``scores[r, c] + offset[r]`` among each run of ``group`` consecutive rows.

    ``scores (G * group, V)``, ``offset (G * group,)`` (zeros when None) -> values, the row within
    the group and the column, each ``(G, k)``, largest first. Beam search ranks a sentence's
    ``(beam, token)`` extensions this way: its beams are a group, their scores so far the offsets.
    """
    n, vocab = scores.shape
    groups = n // group
    full = vocab // BLOCK  # whole blocks; a last, partial block is a block of its own
    blocks = full + (vocab > full * BLOCK)
    if group * blocks < 4 * k:  # too few blocks to pay: one exact top-k over the group's entries
        shifted = scores if offset is None else scores + offset[:, None]
        values, index = shifted.reshape(groups, group * vocab).topk(k, dim=1)
        return values, index // vocab, index % vocab
    block_max = scores[:, : full * BLOCK].reshape(n, full, BLOCK).amax(dim=2)  # (N, full)
    if blocks > full:
        block_max = torch.cat([block_max, scores[:, full * BLOCK :].amax(dim=1, keepdim=True)], dim=1)
    if offset is not None:
        block_max = block_max + offset[:, None]
    best = block_max.view(groups, group * blocks).topk(k, dim=1).indices  # (G, k) the blocks to search
    block, row = best, None  # row: (G, k) the row of scores each block is in, when groups have several
    if group > 1:
        block, row = best % blocks, best // blocks + torch.arange(groups, device=scores.device)[:, None] * group
    columns = (block[:, :, None] * BLOCK + torch.arange(BLOCK, device=scores.device)).view(groups, k * BLOCK)
    if blocks > full:
        outside = columns >= vocab  # past the end of the partial block
        columns = columns.clamp(max=vocab - 1)
    if row is None:
        candidates = scores.gather(1, columns)  # (G, k * BLOCK)
        if offset is not None:
            candidates = candidates + offset[:, None]
    else:
        candidates = scores.reshape(-1).take((row * vocab)[:, :, None] + columns.view(groups, k, BLOCK))
        if offset is not None:
            candidates = candidates + offset[row][:, :, None]
        candidates = candidates.view(groups, k * BLOCK)
    if blocks > full:
        candidates = candidates.masked_fill(outside, float("-inf"))
    values, position = candidates.topk(k, dim=1)  # (G, k)
    row_in_group = position.new_zeros(position.shape) if row is None else row.gather(1, position // BLOCK) % group
    return values, row_in_group, columns.gather(1, position)


def row_topk(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``scores (N, V)`` -> the ``k`` largest values of each row and their columns, both ``(N, k)``, largest first."""
    values, _, columns = group_topk(scores, k)
    return values, columns
