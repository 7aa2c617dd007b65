"""Initialize ``We`` from pretrained word vectors (word2vec / fastText text format, ``.vec``).

The vocabulary is SentencePiece pieces, the file has words: a word-initial piece (``▁house``)
takes the vector of its word (``house``, else ``House``'s lowercase form ``house``), a punctuation
piece takes its own; pieces inside words keep their random initialization. The vectors are
rescaled so their standard deviation matches the random rows' (``D^-1/2``): directions come from
the file, the scale stays the model's. ``freeze`` stops training of the rows that came from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from s2s.data.text.pieces import piece_word
from s2s.errors import ConfigError, DataError

if TYPE_CHECKING:
    from s2s.checkpoint import AnyTokenizer


def read_vectors(path: str | Path, wanted: set[str]) -> tuple[int, dict[str, torch.Tensor]]:
    """``(dimension, {word: vector})`` for the ``wanted`` words of a ``.vec`` file.

    The optional first line ``count dim`` (word2vec/fastText) is skipped; every other line is a
    word and ``dim`` numbers. Only wanted words are kept, so a multi-gigabyte file fits in memory.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"pretrained vectors not found: {path}")
    vectors: dict[str, torch.Tensor] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            parts = line.rstrip("\n\r ").split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                dim = int(parts[1])
                continue
            if len(parts) < 2:
                continue  # blank line
            dim = dim or len(parts) - 1
            if len(parts) != dim + 1:
                raise DataError(
                    f"{path} line {number}: expected a word and {dim} numbers, found {len(parts) - 1} fields"
                )
            if parts[0] in wanted and parts[0] not in vectors:
                try:
                    vectors[parts[0]] = torch.tensor([float(x) for x in parts[1:]])
                except ValueError:
                    raise DataError(f"{path} line {number}: not a number in the vector of {parts[0]!r}") from None
    if dim is None:
        raise DataError(f"{path} holds no vectors")
    return dim, vectors


@dataclass(frozen=True)
class Coverage:
    path: str
    matched: int  # pieces initialized from the file
    words: int  # pieces that stand for a whole word (could be matched)
    vocab: int

    def summary(self) -> str:
        return (
            f"pretrained vectors {self.path}: {self.matched} of {self.vocab} pieces initialized "
            f"({100 * self.matched / self.vocab:.1f}%; {self.matched} of {self.words} whole-word pieces)"
        )


def match_pieces(tokenizer: AnyTokenizer, vectors: dict[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    matched = {}
    for token_id in range(tokenizer.vocab_size):
        word = None if tokenizer.is_special(token_id) else piece_word(tokenizer.piece(token_id))
        if word is None:
            continue
        vector = vectors.get(word)
        if vector is None:
            vector = vectors.get(word.lower())
        if vector is not None:
            matched[token_id] = vector
    return matched


def init_from_vectors(
    embeddings: list[nn.Embedding], tokenizer: AnyTokenizer, path: str | Path, *, freeze: bool = False
) -> Coverage:
    """Copy matched vectors into every distinct ``We`` in ``embeddings`` (source and target, or one shared)."""
    distinct = list({id(e): e for e in embeddings}.values())
    dims = {e.embedding_dim for e in distinct}
    words = {
        tokenizer.piece(i): piece_word(tokenizer.piece(i))
        for i in range(tokenizer.vocab_size)
        if not tokenizer.is_special(i)
    }
    wanted = {w for w in words.values() if w} | {w.lower() for w in words.values() if w}
    dim, vectors = read_vectors(path, wanted)
    if dims != {dim}:
        raise ConfigError(
            f"{path} has {dim}-dimensional vectors but the model's embeddings are "
            f"{sorted(dims)[0]}-dimensional: use vectors of size model.d_model or set model.d_model={dim}"
        )
    matched = match_pieces(tokenizer, vectors)
    if not matched:
        raise DataError(f"{path}: none of the vocabulary's words has a vector (is it the right language?)")
    rows = torch.tensor(sorted(matched))
    table = torch.stack([matched[i] for i in sorted(matched)])  # (M, D)
    table = table * (dim**-0.5 / table.std().clamp(min=1e-8))  # the random rows' scale
    for embedding in distinct:
        if embedding.num_embeddings != tokenizer.vocab_size:
            raise ConfigError(
                f"an embedding has {embedding.num_embeddings} rows but the tokenizer has {tokenizer.vocab_size} pieces"
            )
        with torch.no_grad():
            embedding.weight[rows] = table.to(embedding.weight)
        if freeze:
            keep = torch.ones(tokenizer.vocab_size, 1)
            keep[rows] = 0.0
            # Zero the gradient of the loaded rows; the rest (and the tied Wu's use of them) still trains
            # the other rows. AdamW leaves a row whose gradient is always zero unchanged (no weight decay
            # on embeddings, see s2s.training.optim).
            embedding.weight.register_hook(lambda grad, keep=keep: grad * keep.to(grad))
    return Coverage(str(path), len(matched), sum(1 for w in words.values() if w), tokenizer.vocab_size)
