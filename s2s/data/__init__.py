"""Tokenizer, corpora, batching and the LightningDataModule."""
