"""CTC: the hybrid loss trains, and prefix scores equal brute-force sums over alignments."""

from __future__ import annotations

import itertools
import math

import torch

from s2s.data.batching import Batch
from s2s.data.speech.audio import load_audio, log_mel
from s2s.data.speech.dataset import pad_features
from s2s.decoding import DecodingOptions, generate
from s2s.decoding.ctc import CTCPrefixScorer
from s2s.model.seq2seq import Seq2Seq
from s2s.training.losses import ctc_loss
from tests.conftest import tiny_config
from tests.speech_helpers import FSDD

BLANK, EOS = 0, 3


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    out, previous = [], None
    for token in path:
        if token != previous and token != BLANK:
            out.append(token)
        previous = token
    return tuple(out)


def brute_force(log_probs: torch.Tensor, length: int) -> dict[tuple[int, ...], float]:
    """Probability of every collapsed output, by enumerating all alignments of ``length`` frames."""
    probs: dict[tuple[int, ...], float] = {}
    vocab = log_probs.shape[-1]
    for path in itertools.product(range(vocab), repeat=length):
        p = math.exp(sum(float(log_probs[t, token]) for t, token in enumerate(path)))
        key = collapse(path)
        probs[key] = probs.get(key, 0.0) + p
    return probs


def test_prefix_scores_equal_brute_force():
    torch.manual_seed(0)
    vocab, frames = 6, 5  # ids 4, 5 are real tokens; 1, 2 never occur; 3 is EOS
    logits = torch.randn(2, frames, vocab) * 2
    logits[:, :, [1, 2, EOS]] = -1e4  # CTC never emits these ids
    log_probs = logits.log_softmax(-1)
    lengths = torch.tensor([5, 4])  # the second row's last frame is padding
    exact = [brute_force(log_probs[b, : lengths[b]], int(lengths[b])) for b in range(2)]

    def prefix_prob(b: int, prefix: tuple[int, ...]) -> float:
        return sum(p for out, p in exact[b].items() if out[: len(prefix)] == prefix)

    scorer = CTCPrefixScorer(log_probs, lengths, blank=BLANK, eos=EOS, weight=0.5, candidates=vocab)
    attention = torch.zeros(2, vocab)  # weight 0.5 of 0: the joint score is half the CTC delta
    prefixes: list[tuple[int, ...]] = [(), ()]
    for step_tokens in ([4, 5], [4, 4], [5, 4]):
        joint = scorer.score(attention.clone())
        for b in range(2):
            base = prefix_prob(b, prefixes[b])
            for token in (4, 5):
                expected = math.log(prefix_prob(b, prefixes[b] + (token,))) - math.log(base)
                assert abs(2 * float(joint[b, token]) - expected) < 1e-4
            exact_end = math.log(exact[b][prefixes[b]]) - math.log(base)  # the output ends here
            assert abs(2 * float(joint[b, EOS]) - exact_end) < 1e-4
        tokens = torch.tensor(step_tokens)
        scorer.select(torch.arange(2), tokens)
        prefixes = [p + (t,) for p, t in zip(prefixes, step_tokens)]


def fsdd_batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor, Batch]:
    names = ["0_george_10", "7_jackson_11", "3_theo_12", "9_nicolas_13"]
    feats, lengths = pad_features([log_mel(load_audio(FSDD / f"{n}.wav")) for n in names])
    torch.manual_seed(1)
    target = torch.randint(4, vocab, (4, 6))  # prefix (BOS, tag) + 4 target tokens
    target[:, 0], target[:, 1] = 2, 4
    target[1, 5:] = 0  # a shorter target, padded
    batch = Batch(feats, lengths, target, target, target[:, :2], [0, 1, 2, 3])
    return feats, lengths, batch


def test_ctc_loss_is_finite_and_decreases():
    vocab = 12
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab, encoder="audio", conv_channels=8, ctc=True, max_positions=256))
    feats, lengths, batch = fsdd_batch(vocab)
    model.encoder.set_feature_stats(feats[0, : lengths[0]].mean(0).tolist(), feats[0, : lengths[0]].std(0).tolist())
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(12):
        encoded = model.encode(feats, lengths)
        total, tokens = ctc_loss(model.ctc_log_probs(encoded.memory), encoded.lengths, batch, blank=0)
        assert int(tokens) == 4 + 3 + 4 + 4
        loss = total / tokens
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def joint_decode(model, feats, lengths, beam: int, weight: float):
    prefix = torch.tensor([[2, 4]] * feats.shape[0])
    options = DecodingOptions(beam_size=beam, ctc_weight=weight, max_len_a=0.5, max_len_b=3)
    return generate(model, feats, lengths, prefix, options=options, eos_id=EOS, suppress_ids=[0, 2])


def test_joint_decoding_is_per_utterance_and_beam1_equals_greedy():
    vocab = 12
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab, encoder="audio", conv_channels=8, ctc=True, max_positions=256)).eval()
    feats, lengths, _ = fsdd_batch(vocab)
    for beam in (1, 3):
        together = joint_decode(model, feats, lengths, beam, 0.4)
        for i in (1, 3):
            alone = joint_decode(model, feats[i : i + 1, : lengths[i]], lengths[i : i + 1], beam, 0.4)
            assert alone[0][0].tokens == together[i][0].tokens
            assert abs(alone[0][0].score - together[i][0].score) < 1e-3
    greedy = joint_decode(model, feats, lengths, 1, 0.4)
    assert all(h and math.isfinite(h[0].score) for h in greedy)
