"""Transformer building blocks: attention, KV cache, layers, embeddings."""
