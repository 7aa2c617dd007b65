"""A word aligner's alignment of the analyzed pairs, to score cross-attention heads against.

eflomal (Östling and Tiedemann 2016, ``pip install eflomal``) aligns the training corpus together
with the analyzed pairs (source, output): it is unsupervised, so the more parallel text it sees the
better its links, and the analyzed pairs need links of their own. Words are the model's pieces
grouped at the ``▁`` marker, on both the corpus and the pairs, so a link maps back to pieces
exactly. Only links both directions agree on are kept (the intersection: few, reliable links).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from s2s.data.text.pieces import WORD_BOUNDARY
from s2s.errors import ConfigError

Links = set[tuple[int, int]]  # (source word, target word)


def piece_words(tokenizer, ids: Sequence[int]) -> tuple[list[str], list[int]]:
    """The words of token ``ids`` and, per id, the word it belongs to (-1 for specials)."""
    words: list[str] = []
    of: list[int] = []
    for i in ids:
        if tokenizer.is_special(i):
            of.append(-1)
            continue
        piece = tokenizer.piece(i)
        if piece.startswith(WORD_BOUNDARY) or not words or of[-1] == -1:
            words.append("")
        words[-1] += piece.replace(WORD_BOUNDARY, "")
        of.append(len(words) - 1)
    return [w or "_" for w in words], of


def read_links(path: Path) -> list[Links]:
    return [
        {(int(a), int(b)) for a, b in (link.split("-") for link in line.split())}
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def eflomal_links(sources: Sequence[Sequence[str]], targets: Sequence[Sequence[str]]) -> list[Links]:
    """Word links of every pair of word sequences: eflomal in both directions, intersected."""
    try:
        import eflomal
    except ImportError:
        raise ConfigError("alignment agreement needs the eflomal package: pip install 's2s[analysis]'") from None
    with tempfile.TemporaryDirectory() as tmp:
        fwd, rev = Path(tmp) / "fwd", Path(tmp) / "rev"
        source_lines = [" ".join(words) + "\n" for words in sources]  # eflomal reads whitespace-split lines
        target_lines = [" ".join(words) + "\n" for words in targets]
        eflomal.Aligner().align(source_lines, target_lines, links_filename_fwd=str(fwd), links_filename_rev=str(rev))
        return [f & r for f, r in zip(read_links(fwd), read_links(rev))]


Pairs = Sequence[tuple[Sequence[int], Sequence[int]]]  # (source ids, target ids)


def align_with_corpus(tokenizer, corpus: Pairs, pairs: Pairs) -> list[Links]:
    """Links of each analyzed pair ``(source ids, output ids)``, aligned together with the ``corpus`` pairs."""
    corpus_words = [(piece_words(tokenizer, s)[0], piece_words(tokenizer, t)[0]) for s, t in corpus if s and t]
    pair_words = [(piece_words(tokenizer, s)[0], piece_words(tokenizer, t)[0]) for s, t in pairs]
    everything = corpus_words + pair_words
    links = eflomal_links([s for s, _ in everything], [t for _, t in everything])
    return links[len(corpus_words) :]


def cross_links(
    source_ids: Sequence[int], target_ids: Sequence[int], prefix_len: int, word_links: Links, tokenizer
) -> frozenset[tuple[int, int]]:
    """Word links -> cross-attention ``(query, source position)``: the query that predicts output piece
    ``i`` (decoder position ``prefix_len - 1 + i``) is linked to every piece of the source words its word is
    aligned with. ``target_ids`` are the output's ids without the prefix."""
    _, source_word = piece_words(tokenizer, source_ids)
    _, target_word = piece_words(tokenizer, target_ids)
    aligned: dict[int, list[int]] = {}
    for s, t in word_links:
        aligned.setdefault(t, []).append(s)
    q0 = max(prefix_len - 1, 0)
    return frozenset(
        (q0 + i, k)
        for i, word in enumerate(target_word)
        if word >= 0
        for s in aligned.get(word, ())
        for k, sw in enumerate(source_word)
        if sw == s
    )


def align_outputs(
    tokenizer, corpus, items, outputs: Sequence[Sequence[int]], prefix: Sequence[int]
) -> list[frozenset[tuple[int, int]]]:
    """Cross-attention links of each analyzed input (``item.data``: source ids + EOS) and its output ids,
    from eflomal run on the :class:`s2s.analysis.corpus.TrainingCorpus` together with them."""
    word_links = align_with_corpus(tokenizer, corpus.pairs, [(item.data, out) for item, out in zip(items, outputs)])
    return [
        cross_links(item.data, out, len(prefix), links, tokenizer)
        for item, out, links in zip(items, outputs, word_links)
    ]
