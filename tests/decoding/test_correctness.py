"""Decoding is provably right: cached == uncached, beam search == exhaustive search on a tiny
vocabulary, beam 1 (the beam code) == greedy, batch invariance with random companions, and the
user options (no-repeat n-gram, sampling with a seed, top-k/top-p, forced prefix)."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

import s2s.decoding.search as search
from s2s.decoding import DecodingOptions, generate
from s2s.decoding.beam import BeamChooser
from s2s.decoding.parallel import generate_parallel
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config

PAD, UNK, BOS, EOS = 0, 1, 2, 3


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(vocab: int, seed: int, eos_boost: float = 3.0) -> Seq2Seq:
    torch.manual_seed(seed)
    model = Seq2Seq(tiny_config(vocab_size=vocab, d_model=32, ffn_dim=64))
    with torch.no_grad():  # EOS plausible, so hypotheses end at different lengths
        model.decoder.embedding.tokens.weight[EOS] *= eos_boost
    return model.eval()


def batch_of(sentences: list[list[int]], prefix: list[int] | None = None):
    source = torch.full((len(sentences), max(map(len, sentences))), PAD)
    for i, s in enumerate(sentences):
        source[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in sentences])
    return source, lengths, torch.tensor([prefix or [BOS]] * len(sentences))


def decode(model, sentences, prefix=None, **options) -> list[list]:
    source, lengths, prefix_t = batch_of(sentences, prefix)
    return generate(
        model, source, lengths, prefix_t, options=DecodingOptions(**options), eos_id=EOS, suppress_ids=[PAD, BOS]
    )


def random_sentence(rng: random.Random, vocab: int, low: int = 2, high: int = 12) -> list[int]:
    return [rng.randrange(4, vocab) for _ in range(rng.randint(low, high))] + [EOS]


@pytest.mark.parametrize("prefix", [[BOS], [BOS, 5, 6]])
def test_cached_logits_equal_uncached_at_every_step(prefix):
    model = make_model(60, seed=0)
    rng = random.Random(0)
    source, lengths, _ = batch_of([random_sentence(rng, 60) for _ in range(4)])
    target = torch.tensor([prefix + [rng.randrange(4, 60) for _ in range(10)] for _ in range(4)])  # (B, T)
    with torch.no_grad():
        full = model(source, lengths, target)  # (B, T, V), no cache, causal mask
        cache = model.start_decoding(model.encode(source, lengths))
        steps = [model.decode_step(target[:, : len(prefix)], cache)]  # the prefix in one step
        steps += [model.decode_step(target[:, t : t + 1], cache) for t in range(len(prefix), target.shape[1])]
    cached = torch.stack(steps, dim=1)  # (B, T - P + 1, V)
    torch.testing.assert_close(cached, full[:, len(prefix) - 1 :], rtol=1e-5, atol=1e-5)


def exhaustive_ranking(model, sentence: list[int], limit: int, options: DecodingOptions) -> list[tuple[float, tuple]]:
    """Score every output of at most ``limit`` tokens (EOS included) by teacher forcing, best first.

    Mirrors the search's rules independently: padding and BOS are never generated, and at the
    limit only EOS remains (with its own log-probability).
    """
    allowed = [t for t in range(model.config.vocab_size) if t not in (PAD, BOS, EOS)]
    ranking = []
    for n in range(limit):  # every output with n tokens before EOS, in one forward pass
        bodies = list(itertools.product(allowed, repeat=n))
        source, lengths, _ = batch_of([sentence] * len(bodies))
        target = torch.tensor([[BOS, *body] for body in bodies])  # (M, n + 1)
        with torch.no_grad():
            logprobs = model(source, lengths, target).log_softmax(-1)  # (M, n + 1, V)
        tokens = torch.cat([target[:, 1:], torch.full((len(bodies), 1), EOS)], dim=1)  # (M, n + 1)
        totals = logprobs.gather(2, tokens[:, :, None]).squeeze(2).sum(1)  # (M,)
        penalty = options.length_penalty_of(n + 1)
        ranking += [(total / penalty, body) for total, body in zip(totals.tolist(), bodies)]
    return sorted(ranking, reverse=True)


@pytest.mark.parametrize("alpha,style", [(0.0, "plain"), (1.0, "plain"), (2.0, "gnmt")])
def test_beam_search_with_a_large_beam_equals_exhaustive_search(alpha, style):
    # vocabulary: pad, unk, bos, eos, 4, 5 -> outputs over {unk, 4, 5}; at most 4 tokens + EOS
    model, limit = make_model(6, seed=3, eos_boost=1.0), 5
    rng = random.Random(1)
    for sentence in [random_sentence(rng, 6, 3, 8) for _ in range(2)]:
        # 3**4 = 81 longest prefixes: a beam of 128 keeps every prefix, so the search is exhaustive
        options = DecodingOptions(
            beam_size=128, nbest=10, length_penalty=alpha, length_penalty_style=style, max_len_a=0, max_len_b=limit
        )
        expected = exhaustive_ranking(model, sentence, limit, options)[:10]
        got = decode(
            model,
            [sentence],
            beam_size=128,
            nbest=10,
            length_penalty=alpha,
            length_penalty_style=style,
            max_len_a=0,
            max_len_b=limit,
        )[0]
        assert [h.tokens for h in got] == [body for _, body in expected]
        assert [h.score for h in got] == pytest.approx([score for score, _ in expected], abs=1e-4)


def test_beam_search_with_one_beam_is_greedy(monkeypatch):
    model = make_model(40, seed=1)
    rng = random.Random(2)
    sentences = [random_sentence(rng, 40) for _ in range(8)]
    greedy = decode(model, sentences, beam_size=1, length_penalty=0.0)
    monkeypatch.setattr(search, "GreedyChooser", BeamChooser)  # the beam code path with K = 1
    beam = decode(model, sentences, beam_size=1, length_penalty=0.0)
    assert [h[0].tokens for h in beam] == [h[0].tokens for h in greedy]
    assert [h[0].score for h in beam] == pytest.approx([h[0].score for h in greedy], abs=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        dict(beam_size=1),
        dict(beam_size=4),
        dict(beam_size=3, no_repeat_ngram=2),
        dict(beam_size=5, length_penalty=1.0, length_penalty_style="gnmt", min_len=3),
    ],
)
def test_a_sentence_decodes_the_same_in_random_batches_of_other_lengths(options):
    model = make_model(40, seed=2)
    rng = random.Random(3)
    sentence = random_sentence(rng, 40, 6, 6)
    alone = decode(model, [sentence], **options)[0][0]
    for _trial in range(3):
        others = [random_sentence(rng, 40, 1, 20) for _ in range(rng.randint(1, 7))]
        position = rng.randint(0, len(others))
        batch = others[:position] + [sentence] + others[position:]
        inside = decode(model, batch, **options)[position][0]
        assert inside.tokens == alone.tokens
        assert inside.score == pytest.approx(alone.score, abs=1e-5)


def test_no_repeat_ngram_never_repeats():
    model = make_model(12, seed=4, eos_boost=0.5)  # a small vocabulary repeats itself readily
    rng = random.Random(4)
    sentences = [random_sentence(rng, 12) for _ in range(6)]
    plain = decode(model, sentences, beam_size=3, max_len_a=0, max_len_b=20)
    blocked = decode(model, sentences, beam_size=3, max_len_a=0, max_len_b=20, no_repeat_ngram=2)

    def repeats(tokens):
        pairs = list(zip(tokens, tokens[1:]))
        return len(pairs) - len(set(pairs))

    assert sum(repeats(h[0].tokens) for h in plain) > 0  # the filter had something to do
    assert all(repeats(h[0].tokens) == 0 for h in blocked)


def test_sampling_is_reproducible_with_a_seed_and_respects_top_k():
    model = make_model(40, seed=5, eos_boost=1.0)
    rng = random.Random(5)
    sentences = [random_sentence(rng, 40) for _ in range(6)]
    first = decode(model, sentences, sampling=True, seed=7, temperature=1.5)
    again = decode(model, sentences, sampling=True, seed=7, temperature=1.5)
    other = decode(model, sentences, sampling=True, seed=8, temperature=1.5)
    greedy = decode(model, sentences, beam_size=1)
    assert [h[0].tokens for h in first] == [h[0].tokens for h in again]
    assert [h[0].tokens for h in first] != [h[0].tokens for h in other]
    assert [h[0].tokens for h in decode(model, sentences, sampling=True, seed=9, top_k=1)] == [
        h[0].tokens for h in greedy
    ]  # top-k 1 leaves only the argmax
    assert [h[0].tokens for h in decode(model, sentences, sampling=True, seed=9, top_p=1e-6)] == [
        h[0].tokens for h in greedy
    ]  # so does a tiny nucleus


def test_forced_prefix_conditions_the_output():
    model = make_model(40, seed=6)
    rng = random.Random(6)
    sentences = [random_sentence(rng, 40) for _ in range(6)]
    with_tag = decode(model, sentences, prefix=[BOS, 7], beam_size=3)
    other_tag = decode(model, sentences, prefix=[BOS, 8], beam_size=3)
    assert [h[0].tokens for h in with_tag] != [h[0].tokens for h in other_tag]
    # the prefix is fed, not generated: the outputs hold only new tokens
    teacher = [decode(model, [s], prefix=[BOS, 7], beam_size=3)[0][0].tokens for s in sentences]
    assert teacher == [h[0].tokens for h in with_tag]


@pytest.mark.parametrize("options", [dict(beam_size=1), dict(beam_size=4, nbest=2)])
def test_parallel_workers_give_the_same_outputs(options):
    model = make_model(40, seed=7)
    rng = random.Random(7)
    sentences = [random_sentence(rng, 40) for _ in range(7)]
    source, lengths, prefix = batch_of(sentences)
    kwargs = dict(options=DecodingOptions(**options), eos_id=EOS, suppress_ids=[PAD, BOS])
    threads = torch.get_num_threads()
    together = generate(model, source, lengths, prefix, **kwargs)
    split = generate_parallel(model, source, lengths, prefix, workers=3, **kwargs)
    assert [[h.tokens for h in hyps] for hyps in split] == [[h.tokens for h in hyps] for hyps in together]
    assert torch.get_num_threads() == threads  # restored
