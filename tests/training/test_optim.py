"""Learning-rate schedules: warm-up, inverse-sqrt, cosine to zero, and their config errors."""

import math

import pytest
import torch

from s2s.training.optim import OptimConfig, build_optimizer


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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "linear"}, "must be one of inverse_sqrt, cosine, cosine_time"),
        ({"schedule": "cosine"}, "needs optim.decay_steps"),
        ({"schedule": "cosine", "warmup_steps": 100, "decay_steps": 100}, "decay_steps > warmup_steps"),
    ],
)
def test_bad_schedule_settings_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OptimConfig(**kwargs)


def test_cosine_time_warms_up_by_step_and_anneals_by_the_time_budget_spent():
    spent = [0.0]
    model = torch.nn.Linear(2, 2)
    config = OptimConfig(lr=2.0, warmup_steps=2, schedule="cosine_time")
    optimizer, scheduler = build_optimizer(model, config, fused=False, time_spent=lambda: spent[0])
    lrs = []
    for fraction in (0.0, 0.0, 0.5, 0.75, 1.0, 1.5):
        spent[0] = fraction
        optimizer.step()
        scheduler.step()  # the rate for the next update, read from the clock now
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == pytest.approx([2.0, 2.0, 1.0, 2.0 * 0.5 * (1 + math.cos(0.75 * math.pi)), 0.0, 0.0])


def test_cosine_time_without_a_time_limit_is_explained():
    with pytest.raises(ValueError, match="set trainer.max_time"):
        build_optimizer(torch.nn.Linear(2, 2), OptimConfig(schedule="cosine_time"), fused=False)


def test_time_budget_spent_reads_the_trainers_timer_and_its_resumed_offset(monkeypatch):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Timer
    from lightning.pytorch.callbacks import timer as timer_module

    from s2s.training.lit_module import time_budget_spent

    assert time_budget_spent(pl.Trainer(logger=False, enable_checkpointing=False)) is None
    trainer = pl.Trainer(max_time={"seconds": 100}, logger=False, enable_checkpointing=False)
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    clock = [1000.0]
    monkeypatch.setattr(timer_module.time, "monotonic", lambda: clock[0])
    spent = time_budget_spent(trainer)
    assert spent() == 0.0  # not started
    timer.load_state_dict({"time_elapsed": {"train": 40.0}})  # a resumed run had used 40 s
    timer.on_train_start(trainer, None)
    clock[0] += 10
    assert spent() == pytest.approx(0.5)


def test_time_budget_spent_under_ddp_is_rank_zeros_fraction_for_every_rank(monkeypatch):
    """Each process's own clock would give each replica its own learning rate: all take rank 0's."""
    import lightning.pytorch as pl

    from s2s.training.lit_module import time_budget_spent

    ddp = pl.Trainer(
        max_time={"seconds": 100},
        strategy="ddp",
        devices=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
    )
    broadcasts = []

    def rank_zeros(value, src=0):
        broadcasts.append((value, src))
        return 0.25  # what rank 0 measured

    monkeypatch.setattr(ddp.strategy, "broadcast", rank_zeros)
    spent = time_budget_spent(ddp)
    assert spent() == 0.25 and spent() == 0.25
    assert broadcasts == [(0.0, 0), (0.0, 0)]  # this process's own reading (not started: 0) went in, from rank 0
