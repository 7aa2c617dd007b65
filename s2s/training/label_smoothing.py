"""Label-smoothed cross-entropy with a hand-written backward: the largest tensor of a training
step, the ``(N, V)`` logits of every labelled position, is read a few times and written once.

For a row of logits ``x`` with label ``y``, smoothing ``e`` over ``V`` classes, and
``lse = logsumexp(x)``:

    loss = (1 - e) * (lse - x_y) + e * mean_j(lse - x_j) = lse - (1 - e) * x_y - e * mean(x)
    d loss / d x_j = softmax(x)_j - e / V - (1 - e) * [j == y]

which is ``F.cross_entropy(x, y, label_smoothing=e)``. Autograd through ``log_softmax`` and the
two loss terms instead writes ``(N, V)`` log-probabilities, a zero-filled gradient for each
term and their sum: several passes over a tensor of 30M floats per Multi30k batch.

``reuse_logits``: the caller owns the logits (a training step's temporaries), so the backward
writes the gradient over them instead of into a new ``(N, V)`` tensor. A new tensor that size
is fresh memory from the operating system at every step (glibc maps allocations over 32 MB
anew each time), and the first write to each page faults, which makes that write several times
dearer than a write into memory already in use (seen in a one-off profile on an AVX2 CPU). It
also leaves one ``(N, V)`` tensor fewer at the peak of the backward (121 MB for a Multi30k batch
of 3,783 labelled positions and 8,000 pieces). The logits are then gone, so a
second backward through the same loss raises.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROWS_PER_CHUNK = 128  # rows processed together: their temporaries stay in the CPU cache


class LabelSmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, smoothing: float, reuse_logits: bool = False) -> Tensor:
        """``logits (N, V)`` fp32, ``labels (N,)`` -> the loss summed over the rows (a scalar)."""
        lse = torch.cat([torch.logsumexp(chunk, dim=1) for chunk in logits.split(ROWS_PER_CHUNK)])  # (N,)
        target = logits.gather(1, labels[:, None]).squeeze(1)  # (N,)
        losses = lse - (1.0 - smoothing) * target - smoothing * logits.mean(dim=1)
        ctx.save_for_backward(logits, labels, lse)
        ctx.smoothing, ctx.reuse_logits, ctx.spent = smoothing, reuse_logits, False
        return losses.sum()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None, None]:
        if ctx.spent:
            raise RuntimeError(
                "a second backward through a loss computed with reuse_logits=True: its logits "
                "were overwritten by the first one's gradient"
            )
        logits, labels, lse = ctx.saved_tensors
        smoothing = ctx.smoothing
        ctx.spent = ctx.reuse_logits
        grad_logits = logits if ctx.reuse_logits else torch.empty_like(logits)  # (N, V), the one tensor written
        chunks = (t.split(ROWS_PER_CHUNK) for t in (logits, lse, labels, grad_logits))
        for chunk, chunk_lse, chunk_labels, out in zip(*chunks):
            softmax = torch.sub(chunk, chunk_lse[:, None], out=out).exp_()  # in cache
            softmax_to_smoothed_ce_grad_(softmax, chunk_labels, smoothing, grad)
        return grad_logits, None, None, None


def softmax_to_smoothed_ce_grad_(softmax: Tensor, labels: Tensor, smoothing: float, grad: Tensor) -> Tensor:
    """Overwrite ``softmax (n, V)`` of rows labelled ``labels (n,)`` with ``grad`` times the gradient of
    their summed label-smoothed cross-entropy with respect to the logits: ``softmax - e / V - (1 - e) [j == y]``."""
    softmax.sub_(smoothing / softmax.shape[1]).mul_(grad)
    return softmax.scatter_add_(1, labels[:, None], (grad * (smoothing - 1.0)).expand(len(labels), 1).contiguous())


def label_smoothed_cross_entropy(
    logits: Tensor, labels: Tensor, smoothing: float, *, reuse_logits: bool = False
) -> Tensor:
    """Summed label-smoothed cross-entropy of ``logits (N, V)`` against ``labels (N,)``.

    Equal to ``F.cross_entropy(logits, labels, label_smoothing=smoothing, reduction="sum")``, computed
    in fp32 even under bf16 autocast (the softmax over V needs the range), with a backward that
    makes one pass instead of several over the ``(N, V)`` logits.

    ``reuse_logits``: nothing else reads ``logits`` after this loss, whose backward may overwrite them.
    A bf16 ``logits`` is always converted into a new fp32 tensor, which the backward may overwrite.
    """
    fp32 = logits.float()
    return LabelSmoothedCrossEntropy.apply(fp32, labels, smoothing, reuse_logits or fp32 is not logits)
