"""Shallow fusion with an n-gram language model over the decoder's own pieces (kenlm queries it).

Each step, every row's best ``candidates`` next tokens (by the scores so far) are rescored as

    log p(c | audio, g) + weight * log P_lm(c | last n-1 pieces of g)     (EOS: P_lm(</s> | ...))

and the rest are pruned, the same candidate rescoring joint CTC/attention decoding does
(``s2s.decoding.ctc``). It is a logit filter (``apply(logprobs, generated, max_new)``): the LM state
of a row follows from the tokens that row has generated, so it needs no bookkeeping when beams
are reordered or finish, and it travels to forked decoding workers by its path alone (each
worker loads the model once). Ids that are not text (timestamps) neither extend nor get an LM score.
Build the ARPA file with ``s2s.data.text.arpa`` (``tools/build_ngram.py``) or kenlm's ``lmplz``
over the same piece text; ``build_binary`` makes it load faster.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import Tensor

from s2s.data.text.arpa import lm_word
from s2s.decoding.topk import row_topk

LN10 = math.log(10.0)


@functools.lru_cache(maxsize=4)  # a forked worker loads each model once, not once per batch
def load_kenlm(path: str):
    try:
        import kenlm
    except ImportError:
        raise ValueError("--lm needs the kenlm package: pip install kenlm (or pip install 's2s[lm]')") from None
    if not Path(path).is_file():
        raise ValueError(f"--lm {path}: no such file")
    try:
        return kenlm.Model(str(path))
    except (OSError, RuntimeError) as error:
        raise ValueError(
            f"--lm {path}: not an ARPA or kenlm binary file ({str(error).splitlines()[0][:120]})"
        ) from None


class NGramFusion:
    def __init__(self, path: str | Path, tokenizer, weight: float, candidates: int) -> None:
        self.path, self.weight, self.candidates = str(path), weight, candidates
        self.eos_id = tokenizer.eos_id
        self.pieces = [
            None if tokenizer.is_special(i) else lm_word(tokenizer.piece(i)) for i in range(tokenizer.vocab_size)
        ]
        load_kenlm(self.path)  # fails here, in the parent, if the file is bad; kept out of pickles (workers)

    @property
    def model(self):
        """The kenlm model, loaded from the path once per process (so a forked worker loads its own)."""
        return load_kenlm(self.path)

    def context(self, history: list[int]):
        """The kenlm state after a row's last ``order - 1`` text pieces (from ``<s>`` when it has fewer)."""
        import kenlm

        model = self.model
        words = [self.pieces[t] for t in history if self.pieces[t] is not None]
        state, scratch = kenlm.State(), kenlm.State()
        keep = model.order - 1
        if len(words) < keep:
            model.BeginSentenceWrite(state)
        else:
            model.NullContextWrite(state)
        for word in words[-keep:] if keep else []:
            model.BaseScore(state, word, scratch)
            state, scratch = scratch, state
        return state

    def apply(self, logprobs: Tensor, generated: Tensor, max_new: Tensor) -> Tensor:
        """``logprobs (N, V)`` -> fused scores of each row's candidates, ``-inf`` elsewhere."""
        import kenlm

        model, out = self.model, kenlm.State()
        cand = row_topk(logprobs, min(self.candidates, logprobs.shape[-1]))[1]  # (N, C)
        lm = torch.zeros(cand.shape, dtype=logprobs.dtype)
        for row, (history, tokens) in enumerate(zip(generated.tolist(), cand.tolist())):
            state = self.context(history)
            for slot, token in enumerate(tokens):
                word = "</s>" if token == self.eos_id else self.pieces[token]
                if word is not None:
                    lm[row, slot] = model.BaseScore(state, word, out) * LN10
        fused = logprobs.gather(1, cand) + self.weight * lm.to(logprobs.device)
        return torch.full_like(logprobs, float("-inf")).scatter(1, cand, fused)
