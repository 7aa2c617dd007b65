"""Build an n-gram language model over a tokenizer's pieces and write it as an ARPA file (kenlm reads it).

Each sentence becomes ``<s> piece piece ... </s>``: the model scores exactly the tokens the decoder
writes, so shallow fusion (``s2s.decoding.lm_fusion``) needs no word boundaries. Smoothing is
interpolated absolute discounting (Ney et al. 1994), written the way ARPA stores backoff models:

    P(w | h) = max(c(h w) - D, 0) / c(h) + b(h) * P(w | h')        b(h) = D * N1+(h .) / c(h)

with ``h'`` the context without its oldest token, ``D = n1 / (n1 + 2 n2)`` per order (``n1``, ``n2``:
the n-grams seen once, twice), and unigrams add-one smoothed over the whole vocabulary, so every
piece the decoder can write has a probability. A seen n-gram's ARPA entry is its interpolated
probability and ``b(h)`` its context's backoff weight, which gives an unseen one exactly
``b(h) * P(w | h')``. kenlm's ``lmplz`` (modified Kneser-Ney) builds from the same piece text
(``--pieces-out``) where it is installed; its output is read the same way.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def lm_word(piece: str) -> str:
    """A piece as an ARPA word: ``<unk>`` for one that is empty or holds whitespace or control characters
    (byte-level BPE has pieces for newlines, tabs and control bytes), which an ARPA line cannot hold."""
    return piece if piece.isprintable() and piece.split() == [piece] and piece not in (BOS, EOS) else UNK


def lm_vocabulary(tokenizer) -> list[str]:
    """Every text piece the tokenizer's model can write, as ARPA words."""
    return sorted({lm_word(tokenizer.piece(i)) for i in range(tokenizer.vocab_size) if not tokenizer.is_special(i)})


def piece_sentences(texts: Iterable[str], tokenizer) -> list[list[str]]:
    """Each text as the pieces the tokenizer's model writes for it (specials dropped), as ARPA words."""
    return [[lm_word(tokenizer.piece(t)) for t in tokenizer.encode(text) if not tokenizer.is_special(t)]
            for text in texts]


def build_arpa(sentences: list[list[str]], vocabulary: Iterable[str], order: int, path: str | Path) -> dict[int, int]:
    """Write the ARPA file of an ``order``-gram model of ``sentences``; returns the n-gram count per order."""
    if order < 1:
        raise ValueError(f"the n-gram order must be >= 1, got {order}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # counts[k][(w1..wk)]
    for sentence in sentences:
        tokens = [BOS, *sentence, EOS]
        for k in range(1, order + 1):
            for i in range(max(1, k - 1) if k > 1 else 1, len(tokens)):  # never predict <s>
                if i - k + 1 < 0:
                    continue
                counts[k][tuple(tokens[i - k + 1 : i + 1])] += 1
    vocab = sorted(set(vocabulary) | {w for (w,) in counts[1]} | {EOS, UNK} - {BOS})
    total = sum(counts[1].values())
    prob: list[dict[tuple, float]] = [{} for _ in range(order + 1)]
    prob[1] = {(w,): (counts[1][(w,)] + 1) / (total + len(vocab)) for w in vocab}
    backoff: list[dict[tuple, float]] = [{} for _ in range(order + 1)]
    for k in range(2, order + 1):
        n1 = sum(1 for c in counts[k].values() if c == 1)
        n2 = sum(1 for c in counts[k].values() if c == 2)
        discount = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.5
        context_total: dict[tuple, int] = defaultdict(int)
        followers: dict[tuple, int] = defaultdict(int)
        for gram, c in counts[k].items():
            context_total[gram[:-1]] += c
            followers[gram[:-1]] += 1
        for context, c in context_total.items():
            backoff[k - 1][context] = discount * followers[context] / c
        for gram, c in counts[k].items():
            lower = lower_prob(prob, backoff, gram[1:])
            prob[k][gram] = (c - discount) / context_total[gram[:-1]] + backoff[k - 1][gram[:-1]] * lower
    write_arpa(path, prob, backoff, order)
    return {k: len(prob[k]) + (1 if k == 1 else 0) for k in range(1, order + 1)}


def lower_prob(prob: list[dict], backoff: list[dict], gram: tuple) -> float:
    """P(last | rest) of a lower order, backing off until the n-gram is known."""
    if len(gram) == 1:
        return prob[1].get(gram, prob[1][(UNK,)])
    if gram in prob[len(gram)]:
        return prob[len(gram)][gram]
    return backoff[len(gram) - 1].get(gram[:-1], 1.0) * lower_prob(prob, backoff, gram[1:])


def write_arpa(path: str | Path, prob: list[dict], backoff: list[dict], order: int) -> None:
    def log10(x: float) -> str:
        return f"{math.log10(x):.6f}" if x > 0 else "-99"

    lines = ["\\data\\"] + [f"ngram {k}={len(prob[k]) + (1 if k == 1 else 0)}" for k in range(1, order + 1)] + [""]
    for k in range(1, order + 1):
        lines.append(f"\\{k}-grams:")
        entries = sorted(prob[k].items())
        if k == 1:
            entries = [((BOS,), 0.0)] + entries  # <s> is a context, never predicted: log10 p = -99
        for gram, p in entries:
            fields = [log10(p), " ".join(gram)]
            if k < order and gram in backoff[k]:
                fields.append(log10(backoff[k][gram]))
            lines.append("\t".join(fields))
        lines.append("")
    lines.append("\\end\\")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
