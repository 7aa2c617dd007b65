"""Batched beam search: K rows per sentence, finished hypotheses frozen per sentence.

The first step has one row per sentence: its K starting beams would all be the same row, so the
decoder runs it once and the K best tokens of that row become the K beams (the decoder's
cache widens to K rows then, ``KVCache.widen``).

Each step, for every sentence, the 2K best (beam, token) extensions of its K beams are
ranked. An EOS among the top K closes a hypothesis (scored with the length penalty); the
best K non-EOS extensions become the next beams. A sentence is done once it holds K
finished hypotheses (or reaches its own length limit) and then leaves the batch, so what
happens to it never depends on the other sentences.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2s.decoding.hypothesis import Hypothesis, best_first
from s2s.decoding.options import DecodingOptions
from s2s.decoding.topk import group_topk

NEG_INF = float("-inf")


class BeamChooser:
    def __init__(self, batch_size: int, max_new: Tensor, options: DecodingOptions, eos_id: int) -> None:
        self.k, self.options, self.eos_id = options.beam_size, options, eos_id
        device = max_new.device
        self.active = list(range(batch_size))  # original sentence index of each active sentence
        self.max_new = max_new  # (N,) each row's length limit; N = active sentences x rows per sentence
        self.generated = max_new.new_zeros(batch_size, 0)  # (N, t)
        self.scores = torch.zeros(batch_size, 1, device=device)  # (A, rows per sentence) cumulative log-probabilities
        self.finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]

    @property
    def done(self) -> bool:
        return not self.active

    def update(self, logprobs: Tensor) -> tuple[Tensor, Tensor]:
        """``logprobs (A*R, V)``, R rows per sentence (1 at the first step, then K) -> the rows that go on
        ``(A'*K,)`` and their next tokens ``(A'*K,)``: K rows for each sentence still active."""
        k, vocab = self.k, logprobs.shape[-1]
        r = self.scores.shape[1]  # rows per sentence now
        length = self.generated.shape[1] + 1  # tokens generated once this step's token is added
        penalty = self.options.length_penalty_of(length)
        # The 2K best (beam, token) extensions of each sentence: its K beams ranked together, offset by their scores
        top_scores, top_beam, top_token = group_topk(
            logprobs, min(2 * k, r * vocab), group=r, offset=self.scores.view(-1)
        )  # (A, 2K) each, best first
        top_beam_list, top_token_list = top_beam.tolist(), top_token.tolist()
        top_scores_list = top_scores.tolist()
        max_new = self.max_new[::r].tolist()
        generated = None  # fetched from the device only if some hypothesis ends

        rows, tokens, scores, still_active = [], [], [], []
        for a, sentence in enumerate(self.active):
            chosen: list[tuple[int, int, float]] = []
            for rank, score in enumerate(top_scores_list[a]):
                if score == NEG_INF:
                    break
                row, token = a * r + top_beam_list[a][rank], top_token_list[a][rank]
                if token == self.eos_id:
                    if rank < k:
                        generated = self.generated.tolist() if generated is None else generated
                        self.finished[sentence].append(Hypothesis(tuple(generated[row]), score / penalty, score))
                elif len(chosen) < k:
                    chosen.append((row, token, score))
            if len(self.finished[sentence]) >= k or length >= max_new[a] or not chosen:
                continue  # this sentence is done: its hypotheses are frozen
            chosen += [(chosen[0][0], chosen[0][1], NEG_INF)] * (k - len(chosen))  # dead filler beams
            still_active.append(a)
            for row, token, score in chosen:
                rows.append(row)
                tokens.append(token)
                scores.append(score)

        device = self.scores.device
        keep = torch.tensor(rows, dtype=torch.long, device=device)
        next_tokens = torch.tensor(tokens, dtype=torch.long, device=device)
        self.active = [self.active[a] for a in still_active]
        self.scores = torch.tensor(scores, device=device).view(-1, k)
        self.generated = torch.cat([self.generated[keep], next_tokens[:, None]], dim=1)
        self.max_new = self.max_new[keep]
        return keep, next_tokens

    def finalize(self) -> list[list[Hypothesis]]:
        return [best_first(hyps, self.options.nbest) for hyps in self.finished]
