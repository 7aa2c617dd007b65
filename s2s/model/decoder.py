"""Decoder (causal self-attention + cross-attention) and the unembedding ``Wu``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from s2s.model.config import ModelConfig
from s2s.model.encoded import EncodedSource
from s2s.nn.attention import additive_mask, kernel_dtype, key_mask
from s2s.nn.embeddings import Embedding
from s2s.nn.kv_cache import KVCache
from s2s.nn.layer_cache import LayerCache, LayerKeysValues
from s2s.nn.layers import DecoderLayer
from s2s.nn.linear import linear


class Unembedding(nn.Module):
    """``Wu``: decoder states ``(..., D)`` -> logits ``(..., V)``.

    Tied (default): ``Wu = We^T``, the target embedding matrix read backwards, so a token's
    input and output vectors are the same parameters.
    """

    def __init__(self, config: ModelConfig, embedding: nn.Embedding) -> None:
        super().__init__()
        if config.tie_output:
            self.weight = embedding.weight  # shared Parameter (V, D)
        else:
            self.weight = nn.Parameter(torch.randn(config.vocab_size, config.d_model) * config.d_model**-0.5)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size)) if config.final_logits_bias else None

    def forward(self, hidden: Tensor) -> Tensor:
        return linear(hidden, self.weight, self.bias)  # (..., V), on a packed copy of Wu when decoding on a CPU


class Decoder(nn.Module):
    def __init__(self, config: ModelConfig, embedding: Embedding) -> None:
        super().__init__()
        self.embedding = embedding
        self.layers = nn.ModuleList(DecoderLayer(**config.layer_options()) for _ in range(config.decoder_layers))
        self.final_norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()
        self.unembed = Unembedding(config, embedding.tokens)  # Wu

    def project_memory(self, memory: Tensor) -> tuple[tuple[Tensor, Tensor], ...]:
        """Every layer's cross-attention keys/values of the source ``memory (B, S, D)``, computed once
        and cast to the attention kernel's dtype here rather than at every step."""
        pairs = (layer.cross_attn.project_kv(memory) for layer in cast("Iterable[DecoderLayer]", self.layers))
        return tuple((k.to(kernel_dtype(k.dtype, k.device)), v.to(kernel_dtype(v.dtype, v.device))) for k, v in pairs)

    def start_cache(self, encoded: EncodedSource) -> KVCache:
        """An empty target prefix over ``encoded``: the cache a decoding loop steps through."""
        return KVCache([LayerCache(k, v) for k, v in encoded.cross], encoded.mask)

    def states(self, target_in: Tensor, encoded: EncodedSource) -> Tensor:
        """Teacher forcing: the whole prefix ``target_in (B, T)`` -> decoder states ``(B, T, D)``
        (before ``Wu``), each position seeing itself and the positions before it."""
        layers = [LayerCache(k, v) for k, v in encoded.cross]  # cross-attention only: nothing is cached
        return self.run_layers(self.embedding(target_in, 0), layers, key_mask(encoded.mask), None, 1)

    def step(self, tokens: Tensor, cache: KVCache) -> Tensor:
        """Decoding: ``tokens (B*K, Tn)`` continue the prefix already in ``cache`` (positions start at
        ``cache.length``) -> their states ``(B*K, Tn, D)``; ``cache.length`` advances."""
        start = cache.length
        x = self.embedding(tokens, start)  # (B*K, Tn, D)
        dtype = kernel_dtype(x.dtype, x.device)
        # where this step's keys/values go, and one self-attention mask for all layers in their kernel's dtype
        step = cache.begin_step(tokens.shape[1], dtype)
        cross_mask = additive_mask(key_mask(cache.memory_mask), dtype)  # (B, 1, 1, S), converted once for all layers
        x = self.run_layers(x, cache.layers, cross_mask, step, cache.beams)
        cache.length = start + tokens.shape[1]
        return x

    def run_layers(self, x: Tensor, layers: Sequence[LayerKeysValues], cross_mask: Tensor, step, beams: int) -> Tensor:
        for layer, layer_cache in zip(self.layers, layers):
            x = layer(x, layer_cache, cross_mask, step, beams)
        return self.final_norm(x)
