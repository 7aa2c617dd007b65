"""How much each head matters, two ways (docs/guides/analysis.md, "Importance"):

- **masking**: the quality lost on a held-out set when that head alone is masked — BLEU points for
  text, WER points for speech (Michel et al. 2019, "Are Sixteen Heads Really Better than One?",
  section 3); one decoding of the set per head;
- **gradient**: Michel et al.'s estimate ``I_h = E |∂L/∂ξ_h|``, the loss' sensitivity to a mask
  variable ``ξ_h`` on the head's output (``s2s.model.head_mask.gradient_masks``), averaged over
  teacher-forced batches of the references: one backward pass per batch for every head at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from s2s.analysis.inputs import InputSide, SourceItem
from s2s.data.batching import Batch
from s2s.metrics import task_scores
from s2s.model.head_mask import HeadId, all_heads, gradient_masks, masked_heads, parse_head


@dataclass
class HeldOut:
    """Inputs with references, scored by the side's decoding: BLEU (text) or WER (speech)."""

    side: InputSide
    items: list[SourceItem]
    references: list[str]
    reference_ids: list[list[int]]
    metric: str  # "bleu" (higher is better) or "wer" (lower is better)
    normalize: str | None = None  # speech: "whisper" scores WER after Whisper's English normalizer
    batch_size: int = 16

    def score(self) -> float:
        tokenizer = self.side.tokenizer
        hypotheses = []
        for start in range(0, len(self.items), self.batch_size):
            outputs = self.side.decode(self.items[start : start + self.batch_size])
            hypotheses += [tokenizer.decode(ids) for ids in outputs]
        task = "asr" if self.metric == "wer" else "translation"
        return float(task_scores(task, hypotheses, self.references, normalize=self.normalize)[self.metric])

    def lost(self, base: float, masked: float) -> float:
        """Quality points lost going from ``base`` to ``masked`` (positive: the head helped)."""
        return base - masked if self.metric == "bleu" else masked - base

    def batches(self, limit: int | None = None) -> Iterable[Batch]:
        """Teacher-forcing batches of the references (at most ``limit``)."""
        starts = list(range(0, len(self.items), self.batch_size))[:limit]
        for start in starts:
            end = start + self.batch_size
            yield self.side.batch(self.items[start:end], self.reference_ids[start:end])


def masking_importance(
    model, heldout: HeldOut, heads: Sequence[HeadId] | None = None
) -> tuple[float, dict[HeadId, float]]:
    """The held-out score of the model, and per head the score with that head alone masked."""
    base = heldout.score()
    scores = {}
    for head in heads if heads is not None else all_heads(model):
        with masked_heads(model, [head]):
            scores[head] = heldout.score()
    return base, scores


def gradient_importance(model, batches: Iterable[Batch], pad_id: int) -> dict[HeadId, float]:
    """Michel et al.'s ``E |∂L/∂ξ_h|`` over ``batches`` (mean token cross-entropy of each batch).

    Runs with gradients on even inside inference mode (a validation loop): the batch is copied out
    of it first, and only the masks' gradients are computed, never the weights'.
    """
    was_training = model.training
    model.eval()
    totals: dict[tuple[str, int], torch.Tensor] = {}
    count = 0
    with torch.inference_mode(False), torch.enable_grad(), gradient_masks(model) as masks:
        for batch in batches:
            device = batch.source.device
            batch = dataclasses.replace(
                batch,
                source=batch.source.clone(),
                source_lengths=batch.source_lengths.clone(),
                target_in=batch.target_in.clone(),
                target_out=batch.target_out.to(device).clone(),
            )
            hidden = model.decoder_states(model.encode(batch.source, batch.source_lengths), batch.target_in)
            trained = batch.target_out != pad_id  # (B, T): the positions with a label
            logits = model.decoder.unembed(hidden[trained])  # (N, V)
            loss = F.cross_entropy(logits.float(), batch.target_out[trained])
            grads = torch.autograd.grad(loss, list(masks.values()))
            for key, grad in zip(masks, grads):
                totals[key] = totals.get(key, 0) + grad.detach().abs().cpu()
            count += 1
    model.train(was_training)
    if not count:
        return {}
    return {
        HeadId(kind, layer, h + 1): float(total[h]) / count
        for (kind, layer), total in totals.items()
        for h in range(total.shape[0])
    }


def rank_correlation(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(values: Sequence[float]) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):  # ties share their mean rank
            r[x == value] = r[x == value].mean()
        return r

    if len(a) < 2:
        return float("nan")
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def attach_importance(
    model, heldout: HeldOut, summaries, *, how: str = "both", pad_id: int, gradient_batches: int | None = None
) -> dict:
    """Measure importance (``how``: both, masking or gradient) and store it in each
    :class:`s2s.analysis.heads.HeadSummary`'s ``importance``; returns how it was measured."""
    by_name = {s.name: s for s in summaries}
    info = {
        "metric": heldout.metric,
        "size": len(heldout.items),
        "unit": "sentences" if isinstance(heldout.items[0].data, list) else "utterances",
    }
    if how in ("both", "masking"):
        base, scores = masking_importance(model, heldout, [parse_head(name) for name in by_name])
        info["base"] = base
        for head, score in scores.items():
            by_name[str(head)].importance.update(masked=score, delta=heldout.lost(base, score))
    else:
        info["base"] = heldout.score()
    if how in ("both", "gradient"):
        gradients = gradient_importance(model, heldout.batches(gradient_batches), pad_id)
        batches = -(-len(heldout.items) // heldout.batch_size)
        info["gradient_batches"] = batches if gradient_batches is None else min(gradient_batches, batches)
        for head, value in gradients.items():
            if str(head) in by_name:
                by_name[str(head)].importance["gradient"] = value
    if how == "both":
        both = [s for s in summaries if {"delta", "gradient"} <= set(s.importance)]
        info["spearman"] = rank_correlation(
            [s.importance["delta"] for s in both], [s.importance["gradient"] for s in both]
        )
    return info
