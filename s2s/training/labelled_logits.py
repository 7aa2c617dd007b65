"""The logits a training loss reads: ``Wu`` applied to the target positions that have a label."""

from __future__ import annotations

from torch import Tensor

from s2s.data.batching import Batch
from s2s.model.encoded import EncodedSource
from s2s.model.seq2seq import Seq2Seq


def labelled_logits(
    model: Seq2Seq, batch: Batch, pad_id: int, encoded: EncodedSource | None = None
) -> tuple[Tensor, Tensor]:
    """Teacher forcing: logits ``(N, V)`` of the ``N`` positions of ``batch`` that have a label, and
    those labels ``(N,)``, row-major. ``Wu`` is applied to those positions only, not to padding,
    whose logits would be thrown away. ``encoded``: the source's encoding when already computed.
    """
    encoded = encoded if encoded is not None else model.encode(batch.source, batch.source_lengths)
    hidden = model.decoder_states(encoded, batch.target_in)  # (B, T, D)
    trained = batch.target_out != pad_id  # (B, T)
    return model.decoder.unembed(hidden[trained]), batch.target_out[trained]
