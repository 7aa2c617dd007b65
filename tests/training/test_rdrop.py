"""R-Drop: the fused criterion equals the formula computed by autograd; the loss reduces to the plain
label-smoothed cross-entropy where the two dropout samples cannot differ; and it trains."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from s2s.data.batching import Batch
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.losses import sequence_loss
from s2s.training.optim import OptimConfig
from s2s.training.rdrop import RDropCriterion, rdrop_loss, stacked_twice
from tests.conftest import tiny_config
from tests.decoding.test_ctc import fsdd_batch


def reference(logits: torch.Tensor, labels: torch.Tensor, smoothing: float) -> torch.Tensor:
    """[cross-entropy of both copies, (KL(p||q) + KL(q||p)) / 2], summed, by autograd."""
    log_probs = logits.log_softmax(dim=-1)
    both = torch.cat([labels, labels])
    cross_entropy = -(1 - smoothing) * log_probs.gather(1, both[:, None]).sum() - smoothing * log_probs.mean(1).sum()
    p, q = log_probs.chunk(2)
    kl_pq = (p.exp() * (p - q)).sum()
    kl_qp = (q.exp() * (q - p)).sum()
    return torch.stack([cross_entropy, (kl_pq + kl_qp) / 2])


@pytest.mark.parametrize("positions", [5, 300])  # one chunk, and several with a shorter last one
def test_fused_criterion_equals_the_formula_value_and_gradient(positions):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2 * positions, 40, dtype=torch.float64, generator=g) * 3
    labels = torch.randint(0, 40, (positions,), generator=g)
    weights = torch.tensor([0.7, 2.5], dtype=torch.float64)  # any mix of the two outputs
    expected_input = logits.clone().requires_grad_()
    expected = reference(expected_input, labels, 0.1)
    (expected * weights).sum().backward()
    ours_input = logits.clone().requires_grad_()
    ours = RDropCriterion.apply(ours_input * 1, labels, 0.1, True)  # "* 1": a temporary the backward may overwrite
    (ours * weights).sum().backward()
    torch.testing.assert_close(ours, expected)
    torch.testing.assert_close(ours_input.grad, expected_input.grad)


def test_gradcheck_in_double_precision():
    logits = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 6, 3])
    assert torch.autograd.gradcheck(lambda x: RDropCriterion.apply(x, labels, 0.2), (logits,))


def test_bf16_logits_get_a_finite_bf16_gradient_and_fp32_sums():
    logits = (torch.randn(8, 50) * 4).to(torch.bfloat16).requires_grad_()
    sums = RDropCriterion.apply(logits * 1, torch.arange(4), 0.1, True)
    assert sums.dtype == torch.float32 and (sums > 0).all()
    sums.sum().backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad.float()).all()


def test_a_second_backward_through_overwritten_logits_raises():
    logits = torch.randn(4, 9, requires_grad=True)
    sums = RDropCriterion.apply(logits * 1, torch.tensor([1, 2]), 0.1, True)
    sums[0].backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second backward"):
        sums[1].backward()


def batch(vocab: int = 60, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    source = torch.randint(3, vocab, (4, 7), generator=g)
    target = torch.randint(3, vocab, (4, 6), generator=g)
    source[1, 5:] = 0  # padding, which neither loss counts
    target[2, 4:] = 0
    target_out = torch.cat([target[:, 1:], torch.full((4, 1), 2)], dim=1).masked_fill(target == 0, 0)
    return Batch(source, torch.tensor([7, 5, 7, 7]), target, target_out, target[:, :1], [0, 1, 2, 3])


def test_without_dropout_it_is_the_plain_loss_and_the_kl_is_zero():
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=60, dropout=0.0)).train()
    data = batch()
    loss, kl, positions = rdrop_loss(model, stacked_twice(data), pad_id=0, smoothing=0.1, alpha=5.0)
    total, tokens = sequence_loss(model, data, pad_id=0, smoothing=0.1)
    torch.testing.assert_close(loss, total / tokens)
    assert kl.abs() < 1e-6 and int(positions) == int(tokens)


def test_under_dropout_the_two_copies_differ_and_training_pulls_them_together():
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=60, dropout=0.3)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = batch()
    kls, losses = [], []
    for _ in range(60):
        loss, kl, _ = rdrop_loss(model, stacked_twice(data), pad_id=0, smoothing=0.1, alpha=5.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        kls.append(float(kl))
        losses.append(loss.item())
    assert kls[0] > 0.01  # dropout masks differ per copy
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])
    assert sum(kls[-10:]) < sum(kls[:10])


def speech_module(*, rdrop_alpha: float, dropout: float) -> tuple[Seq2SeqModule, Batch]:
    """A tiny hybrid CTC/attention speech model (CTC weight 0.3) and a batch of four FSDD recordings."""
    vocab = 12
    feats, lengths, data = fsdd_batch(vocab)
    torch.manual_seed(0)
    config = tiny_config(vocab, encoder="audio", conv_channels=8, ctc=True, max_positions=256, dropout=dropout)
    module = Seq2SeqModule(
        model_config=config,
        tokenizer=SimpleNamespace(pad_id=0),
        optim=OptimConfig(),
        decoding=None,
        info=CheckpointInfo(),
        ctc_weight=0.3,
        rdrop_alpha=rdrop_alpha,
    ).train()
    module.model.encoder.set_feature_stats(
        feats[0, : lengths[0]].mean(0).tolist(), feats[0, : lengths[0]].std(0).tolist()
    )
    return module, data


def test_with_ctc_and_without_dropout_it_is_the_plain_hybrid_loss():
    (plain, data), (rdrop, _) = speech_module(rdrop_alpha=0.0, dropout=0.0), speech_module(rdrop_alpha=5.0, dropout=0.0)
    for m in (plain, rdrop):
        m.log = lambda *args, **kwargs: None  # no trainer to log to
    expected, expected_tokens = plain.training_loss(data)
    loss, tokens = rdrop.training_loss(data)
    torch.testing.assert_close(loss, expected)
    assert int(tokens) == int(expected_tokens)


def test_with_ctc_under_dropout_both_losses_fall():
    module, data = speech_module(rdrop_alpha=5.0, dropout=0.3)
    logged = {}
    module.log = lambda name, value, **kwargs: logged.setdefault(name, []).append(float(value.detach()))
    optimizer = torch.optim.Adam(module.parameters(), lr=5e-3)
    for _ in range(15):
        loss, _ = module.training_loss(data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ctc, attention = logged["train/ctc_loss"], logged["train/att_loss"]
    assert ctc[-1] < 0.5 * ctc[0] and attention[-1] < 0.5 * attention[0]
    assert logged["train/rdrop_kl"][0] > 0.01  # the two copies' dropout masks differ


def test_a_negative_alpha_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        Seq2SeqModule(
            model_config=tiny_config(vocab_size=60),
            tokenizer=None,
            optim=OptimConfig(),
            decoding=None,
            info=CheckpointInfo(),
            rdrop_alpha=-1.0,
        )
