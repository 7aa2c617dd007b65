"""Greedy (argmax) and sampling token chooser: one row per sentence."""

from __future__ import annotations

import torch
from torch import Tensor

from s2s.decoding.hypothesis import Hypothesis
from s2s.decoding.options import DecodingOptions
from s2s.decoding.topk import row_topk


def sampling_distribution(logprobs: Tensor, options: DecodingOptions) -> Tensor:
    """Temperature, then top-k, then top-p (nucleus) -> probabilities ``(N, V)``."""
    logits = logprobs / options.temperature
    if options.top_k:
        kth = logits.topk(min(options.top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # drop a token when the tokens ranked above it already cover top_p (the first always stays)
        drop = probs.cumsum(-1) - probs >= options.top_p
        logits = logits.scatter(-1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return logits.softmax(-1)


class GreedyChooser:
    """Each row takes its best (or a sampled) token; a row leaves the batch when it emits EOS."""

    def __init__(self, batch_size: int, max_new: Tensor, options: DecodingOptions, eos_id: int) -> None:
        self.options, self.eos_id = options, eos_id
        self.active = list(range(batch_size))  # original sentence index of each row
        self.max_new = max_new  # (N,) each row's length limit
        self.generated = max_new.new_zeros(batch_size, 0)  # (N, t)
        self.logprob = torch.zeros(batch_size, device=max_new.device)  # (N,)
        self.finished: list[list[Hypothesis]] = [[] for _ in range(batch_size)]
        self.generator = None
        if options.sampling:
            self.generator = torch.Generator(device=max_new.device)
            self.generator.manual_seed(options.seed if options.seed is not None else torch.seed())

    @property
    def done(self) -> bool:
        return not self.active

    def update(self, logprobs: Tensor) -> tuple[Tensor, Tensor]:
        """``logprobs (N, V)`` -> rows that go on ``(N',)`` and their next tokens ``(N',)``."""
        if self.generator is not None:
            probs = sampling_distribution(logprobs, self.options)
            next_tokens = torch.multinomial(probs, 1, generator=self.generator).squeeze(1)  # (N,)
        else:
            next_tokens = row_topk(logprobs, 1)[1].squeeze(1)  # (N,) the argmax, found faster
        self.logprob = self.logprob + logprobs.gather(1, next_tokens[:, None]).squeeze(1)
        ended = next_tokens == self.eos_id  # the MaxLength filter forces EOS at each row's limit
        if ended.any():
            rows = ended.nonzero().squeeze(1).tolist()
            generated, logprob = self.generated.tolist(), self.logprob.tolist()
            penalty = self.options.length_penalty_of(self.generated.shape[1] + 1)
            for row in rows:
                hypothesis = Hypothesis(tuple(generated[row]), logprob[row] / penalty, logprob[row])
                self.finished[self.active[row]].append(hypothesis)
        keep = (~ended).nonzero().squeeze(1)  # (N',)
        self.active = [self.active[row] for row in keep.tolist()]
        next_tokens = next_tokens[keep]
        self.generated = torch.cat([self.generated[keep], next_tokens[:, None]], dim=1)
        self.logprob, self.max_new = self.logprob[keep], self.max_new[keep]
        return keep, next_tokens

    def finalize(self) -> list[list[Hypothesis]]:
        return self.finished
