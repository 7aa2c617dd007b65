"""The ids a tokenizer's model must never generate, in one place for every decoding front end."""

from __future__ import annotations


def never_generated(tokenizer, *, timestamps: bool = False) -> list[int]:
    """Padding, BOS, every task/language/timestamp tag, and a Whisper model's non-speech tokens;
    ``timestamps``: a Whisper output with timestamps, whose timestamp tokens stay allowed."""
    banned = {tokenizer.pad_id, tokenizer.bos_id, *tokenizer.tag_ids, *getattr(tokenizer, "suppress_ids", ())}
    if timestamps:
        banned -= set(tokenizer.timestamp_ids)
    return sorted(banned)


def never_first(tokenizer) -> list[int]:
    """Ids banned as the first generated token only (Whisper's ``suppress_blank``: a lone space, EOS)."""
    return list(getattr(tokenizer, "suppress_at_start", ()))
