"""The training losses read by the LightningModule: label-smoothed cross-entropy over the labelled
target positions, and CTC over the encoder's output."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from s2s.data.batching import Batch
from s2s.model.encoded import EncodedSource
from s2s.model.seq2seq import Seq2Seq
from s2s.training.label_smoothing import label_smoothed_cross_entropy
from s2s.training.labelled_logits import labelled_logits


def sequence_loss(
    model: Seq2Seq, batch: Batch, *, pad_id: int, smoothing: float, encoded: EncodedSource | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed loss over every target position that has a label, and the number of those positions.

    ``encoded``: the source's encoding when already computed (a CTC loss reads it too).
    """
    logits, labels = labelled_logits(model, batch, pad_id, encoded)  # (N, V), (N,)
    # the logits are this step's temporaries: the loss's backward may write its gradient over them
    loss = label_smoothed_cross_entropy(logits, labels, smoothing, reuse_logits=True)
    return loss, torch.tensor(labels.numel(), device=labels.device)


def ctc_loss(log_probs: torch.Tensor, input_lengths: torch.Tensor, batch: Batch, *, blank: int):
    """CTC loss summed over the batch, and the number of target tokens.

    ``log_probs (B, S, V)`` from the CTC head; the targets are the text tokens after the forced
    prefix (no tags, no EOS). The blank is the padding id, which is never a target.
    """
    targets = batch.target_in[:, batch.prefix.shape[1] :]  # (B, T') text ids, padded with the blank
    target_lengths = (targets != blank).sum(dim=1)
    total = F.ctc_loss(
        log_probs.transpose(0, 1),
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction="sum",
        zero_infinity=True,
    )
    return total, target_lengths.sum()
