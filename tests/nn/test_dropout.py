"""s2s's Dropout is nn.Dropout's function: the drop rate, the scale, the gradient, the seed, evaluation mode."""

from __future__ import annotations

import pytest
import torch

from s2s.nn.dropout import Dropout


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p", [0.1, 0.3])
def test_drops_at_rate_p_and_scales_the_rest(p, dtype):
    torch.manual_seed(0)
    x = torch.rand(1000, 1000, dtype=dtype) + 1.0  # no zeros of its own
    y = Dropout(p).train()(x)
    assert y.dtype == dtype
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - p) < 0.002  # 1e6 draws: the standard error is below 0.0005
    kept = y != 0
    torch.testing.assert_close(y[kept], (x[kept].float() / (1 - p)).to(dtype))


def test_gradient_is_the_mask_over_keep_probability():
    torch.manual_seed(1)
    x = torch.randn(300, 200, requires_grad=True)
    y = Dropout(0.25).train()(x)
    y.backward(torch.ones_like(y))
    torch.testing.assert_close(x.grad, (y != 0).float() / 0.75)


def test_the_same_seed_gives_the_same_mask():
    x = torch.randn(50, 40)
    torch.manual_seed(3)
    first = Dropout(0.5).train()(x)
    torch.manual_seed(3)
    assert torch.equal(Dropout(0.5).train()(x), first)


def test_evaluation_mode_and_p_zero_return_the_input_itself():
    x = torch.randn(4, 5)
    assert Dropout(0.3).eval()(x) is x
    assert Dropout(0.0).train()(x) is x
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_p_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(1.5)


def test_every_element_of_a_random_word_drops_at_rate_p_and_odd_sizes_work():
    """Four elements share one 64-bit random word: each of the four positions must drop at rate p
    (a word with a fixed bit, as ``random_()`` without a range gives, would never drop one of them)."""
    torch.manual_seed(2)
    y = Dropout(0.1).train()(torch.ones(250_000, 4))
    for lane in range(4):
        assert abs((y[:, lane] == 0).float().mean().item() - 0.1) < 0.003  # standard error 0.0006
    both = ((y[:, 0] == 0) & (y[:, 1] == 0)).float().mean().item()
    assert abs(both - 0.01) < 0.001  # neighbours drop independently
    odd = Dropout(0.5).train()(torch.ones(7, 3))
    assert odd.shape == (7, 3) and set(odd.unique().tolist()) <= {0.0, 2.0}
