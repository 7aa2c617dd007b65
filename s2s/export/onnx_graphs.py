"""The two graphs an ONNX export holds, as torch modules over a model's own layers.

``EncoderGraph``: the source -> its padding mask and every decoder layer's cross-attention keys and
values, computed once per source (``Seq2Seq.encode``'s ``EncodedSource``), plus the CTC head's
log-probabilities when the model has one.

``DecoderStepGraph``: new target tokens after a cached prefix -> the next token's logits and the
self-attention cache grown by those tokens. The cache is explicit data here, one ``(B, H, T, Dh)``
key and value tensor per layer in and ``(B, H, T + Tn, Dh)`` out, so that a runtime without torch
can keep it. The layers, norms and ``Wu`` are the model's own modules: ``StepCache`` stands in for
``LayerCache`` (it appends by concatenation instead of writing into a preallocated buffer), so the
graph computes exactly what ``Seq2Seq.decode_step`` computes for one row per sentence.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2s.model.seq2seq import Seq2Seq
from s2s.nn.attention import causal_mask, key_mask
from s2s.nn.layer_cache import StepColumns


class EncoderGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: Tensor, source_lengths: Tensor) -> tuple[Tensor, ...]:
        """``source (B, S)`` ids or ``(B, F, feature_dim)`` log-mel, ``source_lengths (B,)`` ->
        ``memory_mask (B, S')``, then ``cross_k, cross_v (B, H, S', Dh)`` per decoder layer
        [, ``ctc_log_probs (B, S', V)``]."""
        encoded = self.model.encode(source, source_lengths)
        outputs = [encoded.mask]  # (B, S')
        for k, v in encoded.cross:
            outputs.extend((k, v))
        if self.model.ctc is not None:
            outputs.append(self.model.ctc_log_probs(encoded.memory))
        return tuple(outputs)


class StepCache:
    """``LayerCache``'s interface for one traced step: the past keys/values come in, the grown ones go out."""

    def __init__(self, cross_k: Tensor, cross_v: Tensor, past_k: Tensor, past_v: Tensor) -> None:
        self.cross_k, self.cross_v = cross_k, cross_v
        self.past_k, self.past_v = past_k, past_v
        self.present_k: Tensor  # set by append, which the traced step calls once
        self.present_v: Tensor

    def append(self, k: Tensor, v: Tensor, step: StepColumns) -> tuple[Tensor, Tensor]:
        """New ``k, v (B, H, Tn, Dh)`` after the past ``(B, H, T, Dh)`` -> ``(B, H, T + Tn, Dh)``."""
        self.present_k = torch.cat([self.past_k, k], dim=2)
        self.present_v = torch.cat([self.past_v, v], dim=2)
        return self.present_k, self.present_v


class DecoderStepGraph(nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, tokens: Tensor, memory_mask: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        """``tokens (B, Tn)`` continuing a prefix of ``T`` cached positions, ``memory_mask (B, S)``, then per
        layer ``cross_k, cross_v (B, H, S, Dh)`` and ``past_k, past_v (B, H, T, Dh)`` (``T`` may be 0) ->
        ``logits (B, V)`` of the last new position, then per layer ``present_k, present_v (B, H, T + Tn, Dh)``."""
        layers = self.decoder.layers
        caches_per_layer = [StepCache(*caches[4 * i : 4 * i + 4]) for i in range(len(layers))]
        past, new = caches[2].shape[2], tokens.shape[1]
        embedding = self.decoder.embedding
        # Embedding.forward slices its table with a Python start; the graph's start is data, so it gathers
        positions = embedding.positions.table.index_select(0, torch.arange(new, device=tokens.device) + past)
        x = embedding.tokens(tokens) * embedding.scale + positions.to(embedding.tokens.weight.dtype)  # (B, Tn, D)
        step = StepColumns(slice(None), None, past + new, causal_mask(new, past + new, tokens.device))
        x = self.decoder.run_layers(x, caches_per_layer, key_mask(memory_mask), step, 1)  # (B, Tn, D)
        logits = self.decoder.unembed(x[:, -1])  # (B, V)
        return (logits, *(t for cache in caches_per_layer for t in (cache.present_k, cache.present_v)))
