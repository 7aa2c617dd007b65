"""Logit filters: each ``apply(logprobs, generated, max_new)`` returns adjusted log-probabilities.

``logprobs (N, V)`` are the next-token scores of N rows (sentences x beams), ``generated
(N, t)`` the tokens each row has generated after its prefix, and ``max_new (N,)`` each row's
length limit. A banned token gets ``-inf``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import torch
from torch import Tensor

NEG_INF = float("-inf")


class LogitFilter(Protocol):
    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor: ...


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


class TimestampRules:
    """Whisper's grammar for outputs with timestamps: ``<|t0|> text <|t1|><|t1'|> text <|t2|> ... EOS``.

    Timestamps come in pairs (a segment's end, then the next one's start), except a lone one right
    before EOS; they never go back, and a segment is never empty of time. The first token is a
    timestamp no later than ``max_initial`` positions (Whisper's 1 s). Where the timestamps together
    are likelier than any text token, a timestamp must come next. The same rules as OpenAI's
    ``ApplyTimestampRules`` and CTranslate2's, applied to log-probabilities (ranking is unchanged:
    every rule compares tokens of one row).
    """

    def __init__(self, timestamp_begin: int, eos_id: int, no_timestamps_id: int, max_initial: int | None = 50) -> None:
        self.begin, self.eos_id, self.no_timestamps_id, self.max_initial = (
            timestamp_begin,
            eos_id,
            no_timestamps_id,
            max_initial,
        )

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        begin = self.begin
        logprobs[:, self.no_timestamps_id] = NEG_INF
        if generated.shape[1] == 0:
            logprobs[:, :begin] = NEG_INF  # the output starts with a timestamp
            if self.max_initial is not None:
                logprobs[:, begin + self.max_initial + 1 :] = NEG_INF
        for row, tokens in enumerate(generated.tolist()):
            last = len(tokens) >= 1 and tokens[-1] >= begin
            penultimate = len(tokens) < 2 or tokens[-2] >= begin
            if last:
                if penultimate:  # a pair just closed: text next
                    logprobs[row, begin:] = NEG_INF
                else:  # a segment just ended: the next one's start, or EOS
                    logprobs[row, : self.eos_id] = NEG_INF
            stamps = [t for t in tokens if t >= begin]
            if stamps:  # no going back; a new segment starts after the previous one ended
                earliest = stamps[-1] if last and not penultimate else stamps[-1] + 1
                logprobs[row, begin:earliest] = NEG_INF
        timestamp_mass = logprobs[:, begin:].logsumexp(dim=-1)  # (N,)
        best_text = logprobs[:, :begin].max(dim=-1).values  # (N,)
        logprobs[timestamp_mass > best_text, :begin] = NEG_INF
        return logprobs
