"""Encoders: bidirectional Transformers over text tokens or audio features."""
