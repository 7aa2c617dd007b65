"""Learning-rate schedules: warm-up, inverse-sqrt, cosine to zero, and their config errors."""

import math

import pytest
import torch

from s2s.optim import OptimConfig, build_optimizer


def lrs_over(config: OptimConfig, steps: int) -> list[float]:
    """The learning rate each of ``steps`` optimizer steps uses, through the real scheduler."""
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = build_optimizer(model, config, fused=False)
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_inverse_sqrt_rises_linearly_then_decays_as_one_over_sqrt_step():
    lrs = lrs_over(OptimConfig(lr=1.0, warmup_steps=4), 16)
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[15] == pytest.approx(math.sqrt(4 / 16))


def test_cosine_reaches_zero_at_decay_steps_and_stays_there():
    lrs = lrs_over(OptimConfig(lr=2.0, warmup_steps=2, schedule="cosine", decay_steps=10), 14)
    assert lrs[:2] == pytest.approx([1.0, 2.0])
    assert lrs[5] == pytest.approx(1.0)  # step 6: halfway between the end of warm-up (2) and 10
    assert lrs[9:] == pytest.approx([0.0] * 5)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))  # never rises after warm-up


@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "linear"}, "must be one of inverse_sqrt, cosine"),
    ({"schedule": "cosine"}, "needs optim.decay_steps"),
    ({"schedule": "cosine", "warmup_steps": 100, "decay_steps": 100}, "decay_steps > warmup_steps"),
])
def test_bad_schedule_settings_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OptimConfig(**kwargs)
