"""Where one head's attention goes: each measure is a share of attention mass (see docs/guides/analysis.md).

A measure names a set of keys for each query (the previous token, the first token, the other
pieces of the query's word...) and the queries it is measured on. Its figure is the attention
mass a query puts on its key set, averaged over those queries; its baseline is the same average
for uniform attention over the keys the query may see, so a figure can be read against chance.
Queries whose key set coincides with another measure's by construction are left out (e.g. the
first token is measured from queries at distance >= 2, where it is neither the query itself nor
its previous token).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from s2s.analysis.inputs import Axis

# measure -> (attention kinds it applies to, its name in the report, where its attention goes);
# "{unit}" is "token", or "frame" where the keys are audio frames.
MEASURES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "previous": (("encoder", "decoder"), "Previous {unit}", "the previous {unit}"),
    "same": (("encoder", "decoder"), "Same {unit}", "the {unit} itself"),
    "next": (("encoder",), "Next {unit}", "the next {unit}"),
    "first": (("encoder", "decoder", "cross"), "First {unit} as a sink", "the first {unit}"),
    "eos": (("encoder", "cross"), "EOS as a sink", "the EOS token"),
    "punctuation": (("encoder", "decoder", "cross"), "Punctuation", "punctuation"),
    "same_word": (("encoder", "decoder"), "Same word", "the other pieces of the same word"),
    "monotonic": (
        ("cross",),
        "Monotonic source-target alignment",
        "source positions within ±1 of the length-scaled diagonal",
    ),
    "rare": (("encoder", "cross"), "Rare tokens", "the sentence's least frequent source token"),
    "noop": (("encoder", "cross"), "No-op (punctuation and EOS)", "the source's punctuation and EOS"),
}
MAX_OFFSET = 4  # positional heads beyond ±1: offsets ±2..±MAX_OFFSET (the decoder sees only the past)
for _d in range(2, MAX_OFFSET + 1):
    MEASURES[f"offset-{_d}"] = (("encoder", "decoder"), f"Offset -{_d}", f"the {{unit}} {_d} positions before")
    MEASURES[f"offset+{_d}"] = (("encoder",), f"Offset +{_d}", f"the {{unit}} {_d} positions after")


def label(name: str, unit: str = "token") -> str:
    return MEASURES[name][1].format(unit=unit)


def noun(name: str, unit: str = "token") -> str:
    return MEASURES[name][2].format(unit=unit)


ENTROPY = "entropy"  # normalized entropy, 0 = one key, 1 = uniform over the visible keys
CONFIDENCE = "confidence"  # Voita et al.'s confidence: the mean of each query's largest weight
ALIGNMENT = "alignment"  # cross-attention: share of queries whose argmax is a source token the word aligner links
STATISTICS = (ENTROPY, CONFIDENCE, ALIGNMENT)  # figures of every head, never a head's pattern
MONOTONIC_BAND = 1  # positions either side of the length-scaled diagonal


@dataclass(frozen=True)
class Context:
    """Which attention a matrix is, and the two axes it spans."""

    kind: str  # encoder | decoder | cross
    queries: Axis
    keys: Axis
    prefix_len: int = 1  # decoder positions given before the output (BOS, tags)
    links: frozenset[tuple[int, int]] | None = None  # cross: (query, source position) a word aligner links


@dataclass
class Tally:
    """One measure on one example: sums over its queries (per head), so examples add up."""

    mass: np.ndarray  # (H,) summed share of attention on the key set
    baseline: float  # summed share uniform attention would give
    queries: int

    def __iadd__(self, other: Tally) -> Tally:
        self.mass = self.mass + other.mass
        self.baseline += other.baseline
        self.queries += other.queries
        return self

    def share(self) -> np.ndarray:
        return self.mass / max(self.queries, 1)  # (H,)


def visible_keys(ctx: Context, tq: int, tk: int) -> np.ndarray:
    """``(Tq, Tk)`` True where a query may attend: everything, or the past in the decoder."""
    if ctx.kind == "decoder":
        return np.tril(np.ones((tq, tk), dtype=bool))
    return np.ones((tq, tk), dtype=bool)


def measured_queries(ctx: Context, tq: int) -> np.ndarray:
    """``(Tq,)`` queries every measure starts from.

    Decoder self-attention drops position 0 (it can see only itself); cross-attention keeps the
    positions that predict an output token (the last prefix position onwards).
    """
    q = np.ones(tq, dtype=bool)
    if ctx.kind == "decoder":
        q[:1] = False
    elif ctx.kind == "cross":
        q[: max(ctx.prefix_len - 1, 0)] = False
    return q


KeySet = tuple[np.ndarray, np.ndarray]  # ((Tq, Tk) key set, (Tq,) queries it is measured on)


def offset_keys(tq: int, tk: int, offset: int) -> KeySet:
    q = np.arange(tq)[:, None]
    keys = np.arange(tk)[None, :] == q + offset
    return keys, keys.any(axis=1)


def first_keys(ctx: Context, tq: int, tk: int) -> KeySet:
    keys = np.zeros((tq, tk), dtype=bool)
    keys[:, 0] = True
    queries = np.ones(tq, dtype=bool) if ctx.kind == "cross" else np.arange(tq) >= 2
    return keys, queries


def eos_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    if ctx.keys.eos is None:
        return None
    keys = np.zeros((tq, tk), dtype=bool)
    keys[:, ctx.keys.eos] = True
    queries = np.ones(tq, dtype=bool) if ctx.kind == "cross" else np.abs(np.arange(tq) - ctx.keys.eos) >= 2
    return keys, queries


def punctuation_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    punct = np.array(ctx.keys.punctuation[:tk], dtype=bool)
    if not punct.any():
        return None
    keys = np.broadcast_to(punct, (tq, tk)).copy()
    if ctx.kind != "cross":
        np.fill_diagonal(keys, False)  # a punctuation mark attending to itself is "same"
    return keys, keys.any(axis=1)  # type: ignore[return-value]  # numpy types any(axis=...) as a scalar or an array


def same_word_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    if ctx.keys.words is None:
        return None
    assert ctx.queries.words is not None  # queries are tokens (the decoder's, or the text keys' own)
    words = np.array(ctx.keys.words[:tk])
    qwords = np.array(ctx.queries.words[:tq])[:, None]
    keys = (qwords == words[None, :]) & (qwords >= 0)
    keys[np.arange(min(tq, tk)), np.arange(min(tq, tk))] = False
    return keys, keys.any(axis=1)


def monotonic_keys(ctx: Context, tq: int, tk: int) -> KeySet:
    """Query ``q0 + i`` of ``n`` output-predicting queries is aligned with source ``i·(S-1)/(n-1)``."""
    q0 = max(ctx.prefix_len - 1, 0)
    n = tq - q0
    step = (tk - 1) / (n - 1) if n > 1 else 0.0
    centre = (np.arange(tq) - q0) * step  # (Tq,)
    keys = np.abs(np.arange(tk)[None, :] - centre[:, None]) <= MONOTONIC_BAND + 1e-9
    return keys, np.arange(tq) >= q0


def rare_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    """The sentence's least frequent word pieces (training counts; specials and punctuation excluded)."""
    if ctx.keys.counts is None or ctx.keys.words is None:
        return None
    counts = np.array([c if w >= 0 else -1 for c, w in zip(ctx.keys.counts[:tk], ctx.keys.words[:tk])])
    words = counts >= 0
    if not words.any() or counts[words].min() == counts[words].max():
        return None  # every piece equally frequent: no token is the rare one
    keys = np.broadcast_to(words & (counts == counts[words].min()), (tq, tk)).copy()
    if ctx.kind != "cross":
        np.fill_diagonal(keys, False)  # a rare token attending to itself is "same"
    return keys, keys.any(axis=1)  # type: ignore[return-value]  # numpy types any(axis=...) as a scalar or an array


def noop_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    """Punctuation and EOS of the source, from queries that are neither (for self-attention)."""
    parked = np.array(ctx.keys.punctuation[:tk], dtype=bool)
    if ctx.keys.eos is not None and ctx.keys.eos < tk:
        parked[ctx.keys.eos] = True
    if not parked.any():
        return None
    keys = np.broadcast_to(parked, (tq, tk)).copy()
    queries = np.ones(tq, dtype=bool) if ctx.kind == "cross" else ~parked[:tq]
    return keys, queries


def alignment_keys(ctx: Context, tq: int, tk: int) -> KeySet | None:
    """The source positions a word aligner links with the output token each query predicts."""
    if ctx.links is None:
        return None
    keys = np.zeros((tq, tk), dtype=bool)
    for q, k in ctx.links:
        if q < tq and k < tk:
            keys[q, k] = True
    return keys, keys.any(axis=1)  # type: ignore[return-value]  # numpy types any(axis=...) as a scalar or an array


def offset_key_set(d: int) -> Callable[[Context, int, int], KeySet]:
    return lambda ctx, tq, tk: offset_keys(tq, tk, d)


KEY_SETS: dict[str, Callable[[Context, int, int], KeySet | None]] = {
    "previous": lambda ctx, tq, tk: offset_keys(tq, tk, -1),
    "same": lambda ctx, tq, tk: offset_keys(tq, tk, 0),
    "next": lambda ctx, tq, tk: offset_keys(tq, tk, 1),
    "first": first_keys,
    "eos": eos_keys,
    "punctuation": punctuation_keys,
    "same_word": same_word_keys,
    "monotonic": monotonic_keys,
    "rare": rare_keys,
    "noop": noop_keys,
    **{f"offset{d:+d}": offset_key_set(d) for d in [*range(-MAX_OFFSET, -1), *range(2, MAX_OFFSET + 1)]},
}


def applicable(kind: str) -> list[str]:
    return [name for name, (kinds, _, _) in MEASURES.items() if kind in kinds]


def share_tally(weights: np.ndarray, key_set: KeySet, visible: np.ndarray, base: np.ndarray) -> Tally | None:
    """The attention ``weights (H, Tq, Tk)`` put on a key set, summed over its measured queries."""
    keys, queries = key_set
    keys = keys & visible
    queries = queries & base & keys.any(axis=1)
    if not queries.any():
        return None
    mass = (weights * keys[None]).sum(axis=-1)[:, queries].sum(axis=-1)  # (H,)
    uniform = (keys.sum(axis=1) / visible.sum(axis=1))[queries].sum()
    return Tally(mass, float(uniform), int(queries.sum()))


def argmax_weights(weights: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """``(H, Tq, Tk)`` one-hot on each query's most attended visible key: a head's hard alignment."""
    best = np.where(visible[None], weights, -1.0).argmax(axis=-1)  # (H, Tq)
    return (np.arange(weights.shape[-1])[None, None, :] == best[..., None]).astype(weights.dtype)


def measure(weights: np.ndarray, ctx: Context) -> dict[str, Tally]:
    """All measures of ``weights (H, Tq, Tk)`` (one example, every head of one layer)."""
    heads, tq, tk = weights.shape
    visible = visible_keys(ctx, tq, tk)  # (Tq, Tk)
    base = measured_queries(ctx, tq)
    tallies: dict[str, Tally] = {}
    for name in applicable(ctx.kind):
        key_set = KEY_SETS[name](ctx, tq, tk)
        if key_set is not None and (tally := share_tally(weights, key_set, visible, base)) is not None:
            tallies[name] = tally
    links = alignment_keys(ctx, tq, tk) if ctx.kind == "cross" else None
    if links is not None and (tally := share_tally(argmax_weights(weights, visible), links, visible, base)):
        tallies[ALIGNMENT] = tally
    counts = visible.sum(axis=1)  # (Tq,)
    queries = base & (counts >= 2)
    if queries.any():
        p = np.clip(weights, 1e-12, 1.0)
        entropy = -(weights * np.log(p)).sum(axis=-1) / np.log(np.maximum(counts, 2))  # (H, Tq)
        tallies[ENTROPY] = Tally(entropy[:, queries].sum(axis=-1), float(queries.sum()), int(queries.sum()))
        peak = np.where(visible[None], weights, 0.0).max(axis=-1)  # (H, Tq)
        tallies[CONFIDENCE] = Tally(
            peak[:, queries].sum(axis=-1), float((1.0 / counts)[queries].sum()), int(queries.sum())
        )
    return tallies
