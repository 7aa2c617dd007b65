"""The hand-written label-smoothed cross-entropy equals PyTorch's, value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from s2s.training.label_smoothing import LabelSmoothedCrossEntropy, label_smoothed_cross_entropy


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_loss_and_gradient_equal_pytorch_cross_entropy(smoothing):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(37, 101, generator=g) * 4).requires_grad_()
    labels = torch.randint(0, 101, (37,), generator=g)
    ours = label_smoothed_cross_entropy(logits, labels, smoothing)
    (ours_grad,) = torch.autograd.grad(ours / 7, logits)
    reference = F.cross_entropy(logits, labels, label_smoothing=smoothing, reduction="sum")
    (reference_grad,) = torch.autograd.grad(reference / 7, logits)
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(ours_grad, reference_grad)


def test_gradcheck_in_double_precision():
    logits = torch.randn(5, 9, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 8, 3, 3, 1])
    assert torch.autograd.gradcheck(lambda x: LabelSmoothedCrossEntropy.apply(x, labels, 0.2), (logits,))


def test_bf16_logits_get_a_bf16_gradient():
    logits = torch.randn(6, 50).to(torch.bfloat16).requires_grad_()
    loss = label_smoothed_cross_entropy(logits, torch.arange(6), 0.1)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad.float()).all()


def test_reused_logits_give_the_same_gradient_and_a_second_backward_raises():
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(9, 16, generator=g, requires_grad=True)
    weight = torch.randn(40, 16, generator=g)
    labels = torch.randint(0, 40, (9,), generator=g)
    losses, grads = [], []
    for reuse in (False, True):
        loss = label_smoothed_cross_entropy(hidden @ weight.T, labels, 0.1, reuse_logits=reuse)
        (grad,) = torch.autograd.grad(loss, hidden, retain_graph=True)
        losses.append(loss), grads.append(grad)
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1])
    with pytest.raises(RuntimeError, match="second backward"):
        torch.autograd.grad(loss, hidden)  # the reused logits now hold the first gradient


def test_logits_the_caller_keeps_are_left_intact():
    logits = torch.randn(4, 30).requires_grad_()
    before = logits.detach().clone()
    label_smoothed_cross_entropy(logits, torch.tensor([1, 2, 3, 4]), 0.1).backward()
    assert torch.equal(logits.detach(), before)
