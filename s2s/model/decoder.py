"""Decoder (causal self-attention + cross-attention) and the unembedding ``Wu``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s2s.model.config import ModelConfig
from s2s.nn.attention import additive_mask, kernel_dtype, key_mask
from s2s.nn.embeddings import Embedding
from s2s.nn.kv_cache import KVCache, LayerCache
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
        self.layers = nn.ModuleList(
            DecoderLayer(**config.layer_options()) for _ in range(config.decoder_layers)
        )
        self.final_norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()
        self.unembed = Unembedding(config, embedding.tokens)  # Wu

    def new_cache(self, memory: Tensor, memory_mask: Tensor) -> KVCache:
        """Compute every layer's cross-attention keys/values once for this source ``memory (B, S, D)``."""
        layers = [LayerCache(*(t.to(kernel_dtype(t.dtype, t.device)) for t in layer.cross_attn.project_kv(memory)))
                  for layer in self.layers]  # in the attention kernel's dtype: cast once here, not at every step
        return KVCache(layers, memory_mask)

    def forward(self, tokens: Tensor, cache: KVCache, *, use_cache: bool = True) -> Tensor:
        """``tokens (B, Tn)`` -> decoder states ``(B, Tn, D)`` (before ``Wu``).

        With ``use_cache`` the tokens continue the prefix already in ``cache`` (positions start at
        ``cache.length``) and ``cache.length`` advances; without it they are the whole prefix.
        """
        start = cache.length if use_cache else 0
        x = self.embedding(tokens, start)  # (B, Tn, D)
        # where this step's keys/values go, and one self-attention mask for all layers in their kernel's dtype
        step = cache.begin_step(tokens.shape[1], kernel_dtype(x.dtype, x.device)) if use_cache else None
        cross_mask = key_mask(cache.memory_mask)  # (B, 1, 1, S)
        if use_cache:  # converted once for all layers, not by the kernel in each
            cross_mask = additive_mask(cross_mask, kernel_dtype(x.dtype, x.device))
        for layer, layer_cache in zip(self.layers, cache.layers):
            x = layer(x, layer_cache, cross_mask, step, cache.beams)
        if use_cache:
            cache.length = start + tokens.shape[1]
        return self.final_norm(x)
