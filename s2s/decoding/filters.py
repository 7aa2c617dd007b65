"""Logit filters: each ``apply(logprobs, generated, max_new)`` returns adjusted log-probabilities.

``logprobs (N, V)`` are the next-token scores of N rows (sentences x beams), ``generated
(N, t)`` the tokens each row has generated after its prefix, and ``max_new (N,)`` each row's
length limit. A banned token gets ``-inf``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

NEG_INF = float("-inf")


class SuppressTokens:
    """Never generate these ids (padding, BOS, task and language tags)."""

    def __init__(self, token_ids: Iterable[int]) -> None:
        self.token_ids = sorted(set(token_ids))

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        logprobs[:, self.token_ids] = NEG_INF
        return logprobs


class SuppressAtStart:
    """Never generate these ids as the first token (Whisper's ``suppress_blank``: a lone space, EOS)."""

    def __init__(self, token_ids: Iterable[int]) -> None:
        self.token_ids = sorted(set(token_ids))

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        if generated.shape[1] == 0:
            logprobs[:, self.token_ids] = NEG_INF
        return logprobs


class MinLength:
    """No EOS before ``min_len`` tokens (EOS included) have been generated."""

    def __init__(self, min_len: int, eos_id: int) -> None:
        self.min_len, self.eos_id = min_len, eos_id

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        if generated.shape[1] + 1 < self.min_len:
            logprobs[:, self.eos_id] = NEG_INF
        return logprobs


class NoRepeatNGram:
    """Ban any token that would repeat an n-gram the row has already generated."""

    def __init__(self, n: int) -> None:
        self.n = n

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        n, t = self.n, generated.shape[1]
        if t < n - 1 or n == 0:
            return logprobs
        for row, tokens in enumerate(generated.tolist()):
            context = tuple(tokens[t - n + 1 :]) if n > 1 else ()
            banned = {tokens[i + n - 1] for i in range(t - n + 1) if tuple(tokens[i : i + n - 1]) == context}
            if banned:
                logprobs[row, list(banned)] = NEG_INF
        return logprobs


class MaxLength:
    """A row whose next token is its last allowed one must end: only EOS remains possible.

    Runs last, so it wins over ``MinLength`` when the two disagree.
    """

    def __init__(self, eos_id: int) -> None:
        self.eos_id = eos_id

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        at_limit = generated.shape[1] + 1 >= max_new  # (N,)
        if at_limit.any():
            eos_score = logprobs[:, self.eos_id].clone()
            eos_score = torch.where(torch.isfinite(eos_score), eos_score, torch.zeros_like(eos_score))
            logprobs[at_limit] = NEG_INF
            logprobs[at_limit, self.eos_id] = eos_score[at_limit]
        return logprobs
