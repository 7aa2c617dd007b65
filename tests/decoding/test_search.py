"""Decoding invariants: beam 1 == greedy, batch invariance, limits, n-best order."""

import pytest
import torch

from s2s.decoding import DecodingOptions, generate
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config

EOS, PAD, BOS = 3, 0, 2


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    m = Seq2Seq(tiny_config(vocab_size=40, d_model=32, ffn_dim=64))
    with torch.no_grad():  # make EOS plausible so that hypotheses end at different lengths
        m.decoder.embedding.tokens.weight[EOS] *= 3
    return m.eval()


def sentences(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(4, 40, (int(torch.randint(2, 12, (1,), generator=g)),), generator=g).tolist() + [EOS]
        for _ in range(n)
    ]


def run(model, batch_sentences, **options):
    longest = max(map(len, batch_sentences))
    source = torch.zeros(len(batch_sentences), longest, dtype=torch.long)
    for i, s in enumerate(batch_sentences):
        source[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in batch_sentences])
    prefix = torch.full((len(batch_sentences), 1), BOS)
    return generate(
        model, source, lengths, prefix, options=DecodingOptions(**options), eos_id=EOS, suppress_ids=[PAD, BOS]
    )


def test_beam_one_equals_greedy(model):
    batch = sentences(8)
    greedy = run(model, batch, beam_size=1)
    beam = run(model, batch, beam_size=1, nbest=1)
    assert [h[0].tokens for h in greedy] == [h[0].tokens for h in beam]
    for k in (2, 4):  # and a beam's best is never worse than greedy's by the model's own score
        best = run(model, batch, beam_size=k, length_penalty=0.0)
        greedy0 = run(model, batch, beam_size=1, length_penalty=0.0)
        for g, b in zip(greedy0, best):
            assert b[0].score >= g[0].score - 1e-4


@pytest.mark.parametrize("beam", [1, 4])
def test_sentence_decodes_the_same_alone_and_in_any_batch(model, beam):
    batch = sentences(7, seed=3)
    alone = [run(model, [s], beam_size=beam)[0][0].tokens for s in batch]
    together = [h[0].tokens for h in run(model, batch, beam_size=beam)]
    reversed_ = [h[0].tokens for h in run(model, batch[::-1], beam_size=beam)][::-1]
    assert alone == together == reversed_
    assert len(set(map(len, alone))) > 1  # outputs of different lengths really were mixed


def test_each_sentence_has_its_own_length_limit(model):
    batch = sentences(5, seed=5)
    for hyps, source in zip(run(model, batch, beam_size=3, max_len_a=0.5, max_len_b=2, nbest=3), batch):
        limit = int(0.5 * len(source) + 2)
        assert hyps and all(len(h.tokens) + 1 <= limit for h in hyps)  # +1: EOS counts


def test_min_length(model):
    for hyps in run(model, sentences(4), beam_size=2, min_len=6):
        assert len(hyps[0].tokens) + 1 >= 6


def test_nbest_sorted_and_distinct(model):
    for hyps in run(model, sentences(4), beam_size=5, nbest=5):
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({h.tokens for h in hyps}) == len(hyps)


def test_scores_are_length_penalised_logprobs(model):
    for hyps in run(model, sentences(3), beam_size=3, nbest=3, length_penalty=1.0):
        for h in hyps:
            assert h.score == pytest.approx(h.logprob / (len(h.tokens) + 1), rel=1e-5)


def test_suppressed_tokens_never_appear(model):
    for hyps in run(model, sentences(5), beam_size=3, nbest=3):
        assert all(PAD not in h.tokens and BOS not in h.tokens and EOS not in h.tokens for h in hyps)


def test_options_are_validated():
    with pytest.raises(ValueError, match="nbest"):
        DecodingOptions(beam_size=2, nbest=3)
    with pytest.raises(ValueError, match="length_penalty_style"):
        DecodingOptions(length_penalty_style="fancy")
    assert DecodingOptions(length_penalty=1.0, length_penalty_style="gnmt").length_penalty_of(7) == 2.0
