"""CTC prefix scoring for joint CTC/attention decoding (Watanabe et al. 2017, as in ESPnet).

For each row's current prefix ``g`` the scorer keeps, at every encoder position ``t``, the
log-probabilities that the CTC head's first ``t+1`` outputs collapse to ``g`` ending in a
non-blank (``r_n``) or a blank (``r_b``), and ``psi(g)``, the log-probability that *some* CTC
path starts with ``g``. Extending ``g`` by ``c`` costs one pass over time:

    phi_t     = logaddexp(r_b_t(g), r_n_t(g) if c != last(g) else -inf)
    r_n_t(gc) = logaddexp(r_n_{t-1}(gc), phi_{t-1}) + x_t(c)
    r_b_t(gc) = logaddexp(r_b_{t-1}(gc), r_n_{t-1}(gc)) + x_t(blank)
    psi(gc)   = logsumexp_t(phi_{t-1} + x_t(c))          (EOS: logaddexp(r_n_T(g), r_b_T(g)))

Decoding ranks ``(1 - w) * attention + w * (psi(gc) - psi(g))``. Only the attention's best
``candidates`` tokens of each row are scored (the rest are pruned), which keeps a step at
O(T x rows x candidates). Log-zero is a large negative number rather than -inf, so a prefix
the CTC head cannot produce is heavily penalized but never turns a row's scores into NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2s.decoding.topk import row_topk

LOG_ZERO = -1e10


class CTCPrefixScorer:
    def __init__(
        self, log_probs: Tensor, lengths: Tensor, *, blank: int, eos: int, weight: float, candidates: int
    ) -> None:
        """``log_probs (B, T, V)`` of the CTC head, ``lengths (B,)`` real encoder positions."""
        self.x = log_probs.float()
        self.lengths, self.blank, self.eos, self.weight = lengths, blank, eos, weight
        self.candidates = min(candidates, log_probs.shape[-1])
        b, t, _ = log_probs.shape
        self.rows = torch.arange(b, device=log_probs.device)  # (N,) source row of each hypothesis
        blank_lp = self.x[:, :, blank]  # (B, T)
        self.r = torch.full((b, t, 2), LOG_ZERO, device=log_probs.device)  # (N, T, 2): r_n, r_b of the prefix
        self.r[:, :, 1] = blank_lp.cumsum(dim=1)  # the empty prefix: blanks only
        self.psi = torch.zeros(b, device=log_probs.device)  # (N,)
        self.last = torch.full((b,), -1, dtype=torch.long, device=log_probs.device)  # (N,) -1: empty prefix
        self.pending: tuple[Tensor, Tensor, Tensor] | None = None

    def score(self, logprobs: Tensor) -> Tensor:
        """Attention ``logprobs (N, V)`` -> joint scores ``(N, V)``; tokens outside the candidates get -inf."""
        n, vocab = logprobs.shape
        cand = row_topk(logprobs, self.candidates)[1]  # (N, C)
        x = self.x[self.rows]  # (N, T, V)
        length = self.x.shape[1]
        xc = x.gather(2, cand[:, None, :].expand(n, length, cand.shape[1]))  # (N, T, C)
        blank_lp = x[:, :, self.blank]  # (N, T)
        r_n_g, r_b_g = self.r[:, :, 0:1], self.r[:, :, 1:2]  # (N, T, 1)
        repeat = (cand == self.last[:, None])[:, None, :]  # (N, 1, C): c repeats the last token
        phi = torch.logaddexp(r_b_g, torch.where(repeat, torch.full_like(r_n_g, LOG_ZERO), r_n_g))  # (N, T, C)
        empty = (self.last < 0)[:, None]  # (N, 1)
        r_n = torch.full_like(xc, LOG_ZERO)
        r_b = torch.full_like(xc, LOG_ZERO)
        r_n[:, 0] = torch.where(empty, xc[:, 0], torch.full_like(xc[:, 0], LOG_ZERO))
        for t in range(1, length):
            r_n[:, t] = torch.logaddexp(r_n[:, t - 1], phi[:, t - 1]) + xc[:, t]
            r_b[:, t] = torch.logaddexp(r_b[:, t - 1], r_n[:, t - 1]) + blank_lp[:, t, None]
        # psi(gc): paths that emit c (for the first time) at some t < T_n
        starts = torch.cat([r_n[:, :1], phi[:, :-1] + xc[:, 1:]], dim=1)  # (N, T, C)
        valid = torch.arange(length, device=xc.device)[None, :] < self.lengths[self.rows][:, None]  # (N, T)
        psi = starts.masked_fill(~valid[:, :, None], LOG_ZERO).logsumexp(dim=1)  # (N, C)
        end = (self.lengths[self.rows] - 1).clamp(min=0)  # (N,) last real position
        final = self.r[torch.arange(n, device=xc.device), end].logsumexp(dim=-1)  # (N,) psi(g + EOS)
        psi = torch.where(cand == self.eos, final[:, None], psi).clamp(min=LOG_ZERO)
        self.pending = (cand, torch.stack([r_n, r_b], dim=-1), psi)  # kept for select()
        joint = (1 - self.weight) * logprobs.gather(1, cand) + self.weight * (psi - self.psi[:, None])
        return torch.full_like(logprobs, float("-inf")).scatter(1, cand, joint)

    def select(self, rows: Tensor, tokens: Tensor) -> None:
        """The chooser kept old rows ``rows (N',)`` extended by ``tokens (N',)``: adopt their states."""
        assert self.pending is not None, "select() follows the score() that keeps the candidates"
        cand, r, psi = self.pending
        slot = (cand[rows] == tokens[:, None]).float().argmax(dim=1)  # (N',) the token's candidate slot
        self.r = r[rows, :, slot]  # (N', T, 2)
        self.psi = psi[rows, slot]
        self.rows, self.last = self.rows[rows], tokens
        self.pending = None
