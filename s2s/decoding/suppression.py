"""The ids a tokenizer's model must never generate, in one place for every decoding front end."""

from __future__ import annotations


def never_generated(tokenizer) -> list[int]:
    """Padding, BOS, every task/language/timestamp tag, and a Whisper model's non-speech tokens."""
    return sorted({tokenizer.pad_id, tokenizer.bos_id, *tokenizer.tag_ids, *getattr(tokenizer, "suppress_ids", ())})


def never_first(tokenizer) -> list[int]:
    """Ids banned as the first generated token only (Whisper's ``suppress_blank``: a lone space, EOS)."""
    return list(getattr(tokenizer, "suppress_at_start", ()))
