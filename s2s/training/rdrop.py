"""R-Drop (Liang et al., 2021): every training sentence runs through the model twice, under two
independent dropout masks, and the loss adds the two output distributions' symmetric KL divergence
to their cross-entropy, pulling the predictions of the two dropout sub-models towards each other.

For the two copies' log-probabilities ``p`` and ``q`` at each of the ``N`` labelled positions:

    loss = (CE(p) + CE(q) + alpha * sum_positions (KL(p||q) + KL(q||p)) / 2) / (2 N)

a mean per token over both copies. fairseq's ``label_smoothed_cross_entropy_with_rdrop`` divides the
same sum by one copy's token count: twice this loss, which Adam's update does not see, so its
``alpha`` weighs the KL term as this one does (the paper uses 5 for translation).
An update costs about 2.5 times one without R-Drop (the batch is run twice; 2.46 measured in
docs/results/recipes.md), for the same number of sentences. ``KL(p||q) + KL(q||p) = sum_v (p_v - q_v) (log p_v - log q_v)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2s.data.batching import Batch
from s2s.model.encoded import EncodedSource
from s2s.model.seq2seq import Seq2Seq
from s2s.training.label_smoothing import softmax_to_smoothed_ce_grad_
from s2s.training.labelled_logits import labelled_logits

ROWS_PER_CHUNK = 128  # positions processed together (with their twins): temporaries stay in cache


class RDropCriterion(torch.autograd.Function):
    """``logits (2N, V)`` (the first copy's positions, then the second's), ``labels (N,)`` ->
    ``[cross-entropy summed over both copies, symmetric KL / 2 summed over positions]``.

    Fused like ``s2s.training.label_smoothing``: each chunk of positions is read with its twin in the
    other copy and its log-probabilities recomputed in fp32 in cache; with ``reuse_logits`` (the
    caller's temporaries) the backward writes the gradient over the logits, once. Per position,
    with ``D = log p - log q`` and ``E_p`` the mean under ``p``:

        d KL_sym / d x_p = p * (D - E_p[D]) + p - q        (x_p: the first copy's logits)

    and the same with ``p`` and ``q`` exchanged for the second copy.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, smoothing: float, reuse_logits: bool = False) -> Tensor:
        ce, kl = logits.new_zeros(2, dtype=at_least_fp32(logits.dtype)).unbind()  # two sums, accumulated in place
        for (p, q), y in zip(twin_chunks(logits), labels.split(ROWS_PER_CHUNK)):
            for log_probs in (p, q):
                ce -= (1.0 - smoothing) * log_probs.gather(1, y[:, None]).sum() + smoothing * log_probs.mean(
                    dim=1
                ).sum()
            kl += ((p.exp() - q.exp()) * (p - q)).sum() / 2
        ctx.save_for_backward(logits, labels)
        ctx.smoothing, ctx.reuse_logits, ctx.spent = smoothing, reuse_logits, False
        return torch.stack([ce, kl])  # (2,)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        if ctx.spent:
            raise RuntimeError("a second backward through an R-Drop loss: its logits were overwritten by the first")
        ctx.spent = ctx.reuse_logits
        logits, labels = ctx.saved_tensors
        out = logits if ctx.reuse_logits else torch.empty_like(logits)  # (2N, V)
        g_ce, g_kl = grad.to(at_least_fp32(logits.dtype)).unbind()
        smoothing, half = ctx.smoothing, logits.shape[0] // 2
        for start, (p, q), y in zip(range(0, half, ROWS_PER_CHUNK), twin_chunks(logits), labels.split(ROWS_PER_CHUNK)):
            prob_p, prob_q, diff = p.exp(), q.exp(), p - q  # (n, V) each
            # both twins' KL gradients first: each reads both probabilities, which the CE gradient overwrites
            kl_grads = [
                prob * (d - (prob * d).sum(dim=1, keepdim=True)) + prob - other
                for prob, other, d in ((prob_p, prob_q, diff), (prob_q, prob_p, -diff))
            ]
            for offset, prob, kl_grad in ((start, prob_p, kl_grads[0]), (half + start, prob_q, kl_grads[1])):
                ce_grad = softmax_to_smoothed_ce_grad_(prob, y, smoothing, g_ce)  # in place
                out[offset : offset + len(y)] = ce_grad.add_(kl_grad.mul_(g_kl / 2))
        return out, None, None, None


def twin_chunks(logits: Tensor):
    """Yield log-probabilities ``(n, V)`` (fp32 or finer) of a chunk of the first copy's positions and of their twins."""
    first, second = logits.chunk(2)
    dtype = at_least_fp32(logits.dtype)  # bf16 logits: the softmax over V needs fp32's range
    for a, b in zip(first.split(ROWS_PER_CHUNK), second.split(ROWS_PER_CHUNK)):
        yield a.to(dtype).log_softmax(dim=1), b.to(dtype).log_softmax(dim=1)


def at_least_fp32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def stacked_twice(batch: Batch) -> Batch:
    """``batch`` on top of itself, ``(2B, ...)``: one forward gives each copy dropout masks of its own."""
    twice = lambda t: torch.cat([t, t])  # noqa: E731
    return Batch(
        twice(batch.source),
        twice(batch.source_lengths),
        twice(batch.target_in),
        twice(batch.target_out),
        twice(batch.prefix),
        batch.indices * 2,
    )


def rdrop_loss(
    model: Seq2Seq, stacked: Batch, *, pad_id: int, smoothing: float, alpha: float, encoded: EncodedSource | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """The R-Drop loss (a mean per token, as above), its symmetric-KL part (mean per labelled
    position, before ``alpha``) and ``N``, the labelled positions of one copy.

    ``stacked``: a batch stacked on itself (``stacked_twice``); ``encoded``: its encoding, if the
    caller has it (a CTC loss reads it too)."""
    logits, labels = labelled_logits(model, stacked, pad_id, encoded)  # (2N, V): the first copy's rows, then its twins
    positions = labels.numel() // 2
    cross_entropy, symmetric_kl = RDropCriterion.apply(
        logits, labels[:positions], smoothing, True
    )  # twins: same labels
    loss = (cross_entropy + alpha * symmetric_kl) / max(2 * positions, 1)
    return loss, symmetric_kl.detach() / max(positions, 1), torch.tensor(positions)
