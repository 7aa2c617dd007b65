"""The roles added to the report, each on heads set by hand: rare tokens, confidence, offsets beyond ±1,
no-op attention to punctuation/EOS, and cross-attention's agreement with a word aligner."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from s2s.analysis.alignment import align_with_corpus, cross_links, piece_words
from s2s.analysis.collect import ExampleAttention, collect_attention
from s2s.analysis.heads import summarize
from s2s.analysis.inputs import Axis, TextInputs
from s2s.analysis.measures import ALIGNMENT, CONFIDENCE, Context, measure
from s2s.checkpoint import LoadedModel
from s2s.decoding import DecodingOptions
from tests.analysis.test_handset_model import INFO, SHIFT, handset_model, set_head
from tests.analysis.test_measures import PREFIX, SOURCE, TARGET, mix, onto, rows, target_axis
from tests.conftest import multi30k_lines

S, T = len(SOURCE), len(TARGET)
# training counts of the source pieces: "rides" (position 2) is the rarest word piece; "." and </s> are not words
COUNTS = (900, 50, 4, 800, 30, 70, 1000, 29000)
RARE = 2
DOT, EOS = 6, 7


def counted_source() -> Axis:
    return dataclasses.replace(Axis.from_pieces(SOURCE, [False] * 7 + [True], eos=EOS), counts=COUNTS)


def named(weights: np.ndarray, kind: str, links=None) -> list:
    """The summaries of heads ``weights (H, Tq, Tk)`` as one layer of ``kind`` on the test sentence."""
    source, target = counted_source(), target_axis()
    zeros = {"encoder": np.ones((1, S, S)) / S, "decoder": np.tril(np.ones((1, T, T))), "cross": np.ones((1, T, S)) / S}
    zeros["decoder"] = zeros["decoder"] / zeros["decoder"].sum(-1, keepdims=True)
    layers = {k: [weights if k == kind else w] for k, w in zeros.items()}
    ex = ExampleAttention("src", "tgt", source, target, PREFIX, layers, links)
    return [s for s in summarize([ex], top=1) if s.kind == kind]


def test_rare_token_head_is_named_from_training_frequencies():
    rare = onto(S, S, lambda q: RARE if q != RARE else 0)  # the rarest piece; "rides" itself looks at "A"
    frequent = onto(S, S, lambda q: 0 if q != 0 else 3)  # the most frequent word piece: not rare
    heads = named(np.stack([rare, mix(rare, 0.7), frequent]), "encoder")
    assert [h.pattern for h in heads[:2]] == ["rare", "rare"]
    assert heads[0].figure == pytest.approx(1.0, abs=1e-4)
    assert heads[1].figure == pytest.approx(0.7 + 0.3 / S, abs=1e-4)
    assert heads[2].pattern != "rare" and heads[2].measures["rare"] < 0.01
    cross = named(onto(T, S, lambda q: RARE)[None], "cross")
    assert cross[0].pattern == "rare" and cross[0].role == "Rare tokens"
    # without training counts the measure does not apply
    tallies = measure(
        rare[None],
        Context(
            "encoder",
            Axis.from_pieces(SOURCE, [False] * 7 + [True], eos=EOS),
            Axis.from_pieces(SOURCE, [False] * 7 + [True], eos=EOS),
        ),
    )
    assert "rare" not in tallies


def test_confidence_is_the_mean_maximum_weight():
    one_hot = onto(S, S, lambda q: 0)
    uniform = rows(np.ones((S, S)))
    heads = named(np.stack([one_hot, uniform, mix(one_hot, 0.7)]), "encoder")
    assert heads[0].measures[CONFIDENCE] == pytest.approx(1.0, abs=1e-4)
    assert heads[1].measures[CONFIDENCE] == pytest.approx(1 / S) == heads[1].baselines[CONFIDENCE]
    assert heads[2].measures[CONFIDENCE] == pytest.approx(0.7 + 0.3 / S, abs=1e-4)
    assert heads[1].pattern == "broad"  # confidence is a figure of every head, never its pattern


@pytest.mark.parametrize("offset", [-4, -3, -2, 2, 3, 4])
def test_offsets_beyond_one_are_named(offset):
    w = onto(S, S, lambda q: q + offset if 0 <= q + offset < S else q)
    heads = named(np.stack([w, mix(w, 0.7)]), "encoder")
    assert [h.pattern for h in heads] == [f"offset{offset:+d}"] * 2
    assert heads[0].figure == pytest.approx(1.0, abs=1e-4)
    if offset < 0:  # the decoder sees only the past
        causal = np.tril(onto(T, T, lambda q: max(q + offset, 0))) + np.tril(np.full((T, T), 1e-9))
        assert named(rows(causal)[None], "decoder")[0].pattern == f"offset{offset:+d}"


def test_attention_parked_on_punctuation_and_eos_is_a_no_op():
    # 20% on ".", 20% on </s>, the rest uniform: neither alone reaches 30%, together they hold 55%
    spread = mix(onto(S, S, lambda q: [DOT, EOS]), 0.4)
    split = onto(S, S, lambda q: [DOT, EOS])  # 50/50: punctuation alone qualifies and names it
    eos_only = onto(S, S, lambda q: EOS if q != EOS else 0)
    heads = named(np.stack([spread, split, eos_only]), "encoder")
    assert heads[0].pattern == "noop" and heads[0].role == "No-op (punctuation and EOS)"
    assert heads[0].figure == pytest.approx(0.4 + 0.6 * 2 / S, abs=1e-4)
    assert heads[1].pattern == "punctuation" and heads[1].role == "Punctuation (no-op)"
    assert heads[2].pattern == "eos" and heads[2].role == "EOS as a sink (no-op)"
    cross = named(mix(onto(T, S, lambda q: [DOT, EOS]), 0.4)[None], "cross")
    assert cross[0].pattern == "noop"


def test_alignment_agreement_is_the_share_of_argmax_on_linked_words():
    # the aligner links output token i (query 1 + i) with source i: a head following it agrees fully,
    # one looking one word further never does, and a 60/40 blend still agrees at its argmax
    links = frozenset((1 + i, i) for i in range(T - 1))
    follows = onto(T, S, lambda q: min(max(q - 1, 0), S - 1))
    shifted = onto(T, S, lambda q: min(q + 1, S - 1))
    blend = 0.6 * follows + 0.4 * shifted
    heads = named(np.stack([follows, shifted, blend]), "cross", links)
    assert [h.measures[ALIGNMENT] for h in heads] == pytest.approx([1.0, 0.0, 1.0], abs=1e-6)
    assert heads[0].baselines[ALIGNMENT] == pytest.approx(1 / S)
    assert all(h.pattern != ALIGNMENT for h in heads)  # a figure, not a pattern


def test_piece_links_follow_words_and_the_prefix(tokenizer):
    source = tokenizer.encode("A dog runs.") + [tokenizer.eos_id]
    output = tokenizer.encode("Ein Hund rennt.")
    words, of = piece_words(tokenizer, source)
    assert of[-1] == -1 and len(words) == max(of) + 1
    links = cross_links(source, output, prefix_len=2, word_links={(1, 1)}, tokenizer=tokenizer)
    _, out_of = piece_words(tokenizer, output)
    hund = [i for i, w in enumerate(out_of) if w == 1]
    dog = [k for k, w in enumerate(of) if w == 1]
    assert links == frozenset((1 + i, k) for i in hund for k in dog)  # query 1 + i predicts output piece i


def test_eflomal_aligns_a_real_corpus(tokenizer):
    pytest.importorskip("eflomal", reason="eflomal is in the dev extra: pip install -e '.[dev]'")
    en, de = multi30k_lines("train", "en", 2000), multi30k_lines("train", "de", 2000)
    corpus = [(tokenizer.encode(s), tokenizer.encode(t)) for s, t in zip(en, de)]
    pair = (tokenizer.encode("A man and a dog."), tokenizer.encode("Ein Mann und ein Hund."))
    links = align_with_corpus(tokenizer, corpus, [pair])[0]
    source_words, _ = piece_words(tokenizer, pair[0])
    target_words, _ = piece_words(tokenizer, pair[1])
    pairs = {(source_words[s], target_words[t]) for s, t in links}
    assert {("man", "Mann"), ("and", "und"), ("dog.", "Hund.")} <= pairs  # "." joins its word: no ▁ before it


def test_hand_set_offset_heads_of_a_real_model(tokenizer, monkeypatch):
    monkeypatch.setitem(SHIFT, "offset-2", -2)
    monkeypatch.setitem(SHIFT, "offset+3", 3)
    model = handset_model(tokenizer.vocab_size)
    set_head(model.encoder.stack.layers[0].self_attn, 0, "offset-2")
    set_head(model.encoder.stack.layers[0].self_attn, 1, "offset+3")
    set_head(model.decoder.layers[0].self_attn, 0, "offset-2")
    loaded = LoadedModel(model, tokenizer, INFO)
    side = TextInputs(loaded, options=DecodingOptions(beam_size=1))
    sentences = [s for s in multi30k_lines("val", "en", 100) if 8 <= len(tokenizer.encode(s)) <= 24][:4]
    items = side.read(sentences)
    with torch.no_grad():
        examples = collect_attention(side, model, items, targets=[tokenizer.encode(s) for s in sentences])
    found = {(s.kind, s.layer, s.head): (s.pattern, s.figure) for s in summarize(examples, top=1)}
    assert found[("encoder", 1, 1)][0] == "offset-2" and found[("encoder", 1, 1)][1] > 0.9
    assert found[("encoder", 1, 2)][0] == "offset+3" and found[("encoder", 1, 2)][1] > 0.9
    assert found[("decoder", 1, 1)][0] == "offset-2" and found[("decoder", 1, 1)][1] > 0.9
