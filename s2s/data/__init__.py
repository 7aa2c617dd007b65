"""Data: text and speech corpora, their preparation, and the length-bucketed batches both share."""
