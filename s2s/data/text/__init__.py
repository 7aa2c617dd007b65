"""Text data: tokenizers, parallel corpora and their LightningDataModule."""
