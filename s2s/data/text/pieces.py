"""What a SentencePiece piece is: word-initial, punctuation, or the word it spells."""

from __future__ import annotations

import unicodedata

WORD_BOUNDARY = "\u2581"  # SentencePiece's "▁": the piece starts a new word


def is_punctuation(piece: str) -> bool:
    """A piece made only of Unicode punctuation once the word-boundary marker is removed."""
    text = piece.replace(WORD_BOUNDARY, "")
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


def piece_word(piece: str) -> str | None:
    """The whole word a piece stands for, or None for a piece inside a word.

    ``▁house`` is the word ``house``; a punctuation piece is itself (``.`` after a word);
    ``s`` in ``▁house s`` is only part of a word, and a lone ``▁`` is no word.
    """
    if piece.startswith(WORD_BOUNDARY):
        return piece[len(WORD_BOUNDARY):] or None
    return piece if is_punctuation(piece) else None
