"""AdamW with linear warm-up, then inverse-square-root decay or a cosine decay to zero.

The cosine reaches zero at a given update (``cosine``) or when the run's time budget,
``trainer.max_time``, is spent (``cosine_time``): a run limited by wall-clock time does not
know in advance how many updates it will make, and this one anneals fully whatever the pace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

SCHEDULES = ("inverse_sqrt", "cosine", "cosine_time")  # what OptimConfig.schedule may name
NO_TIME_LIMIT = (
    "optim.schedule=cosine_time anneals to zero at the time limit: set trainer.max_time "
    "(e.g. trainer.max_time=00:02:00:00), or use optim.schedule=cosine optim.decay_steps=N"
)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 5e-4  # peak learning rate, reached at the end of warm-up
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    schedule: str = "inverse_sqrt"  # "inverse_sqrt", "cosine" (zero at decay_steps) or "cosine_time" (zero at max_time)
    decay_steps: int | None = None  # cosine: the optimizer step where the learning rate reaches zero

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0:
            raise ValueError(f"lr must be > 0 and warmup_steps >= 0, got lr={self.lr} warmup_steps={self.warmup_steps}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"optim.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.schedule == "cosine" and (self.decay_steps is None or self.decay_steps <= self.warmup_steps):
            raise ValueError(
                f"optim.schedule=cosine needs optim.decay_steps > warmup_steps ({self.warmup_steps}), "
                f"got {self.decay_steps}: set it to the number of updates the run will make"
            )

    def lr_factor(self, step: int, time_spent: float = 0.0) -> float:
        """LR multiplier at optimizer ``step`` (1-based); ``time_spent``: the fraction of the time budget used."""
        if self.schedule == "cosine":
            assert self.decay_steps is not None  # __post_init__ requires it for cosine
            return cosine_factor(step, self.warmup_steps, self.decay_steps)
        if self.schedule == "cosine_time":
            return min(1.0, max(step, 1) / max(self.warmup_steps, 1)) * half_cosine(time_spent)
        return inverse_sqrt_factor(step, self.warmup_steps)


def inverse_sqrt_factor(step: int, warmup_steps: int) -> float:
    """LR multiplier at optimizer ``step``: ``step/warmup`` rising, then ``sqrt(warmup/step)``."""
    step = max(step, 1)
    if warmup_steps == 0:
        return 1.0
    return min(step / warmup_steps, (warmup_steps / step) ** 0.5)


def cosine_factor(step: int, warmup_steps: int, decay_steps: int) -> float:
    """LR multiplier: ``step/warmup`` rising, then half a cosine from 1 down to 0 at ``decay_steps`` (0 after)."""
    step = max(step, 1)
    if step < warmup_steps:
        return step / warmup_steps
    return half_cosine((step - warmup_steps) / (decay_steps - warmup_steps))


def half_cosine(progress: float) -> float:
    """1 at ``progress`` 0, falling along half a cosine to 0 at 1 (and after)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def build_optimizer(
    module: torch.nn.Module, config: OptimConfig, *, fused: bool = True, time_spent: Callable[[], float] | None = None
):
    """AdamW without weight decay on biases, norms and embeddings; a per-step LR schedule.

    ``fused`` updates all parameters in one kernel (about 15% of a CPU training step otherwise);
    it must be off when a GradScaler (fp16) unscales gradients. ``time_spent`` returns the
    fraction of the time budget used so far; ``cosine_time`` needs it.
    """
    if config.schedule == "cosine_time" and time_spent is None:
        raise ValueError(NO_TIME_LIMIT)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "embedding" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=cast("tuple[float, float]", tuple(config.betas)),
        eps=config.eps,
        fused=fused,
    )
    clock = time_spent or (lambda: 0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: config.lr_factor(step + 1, clock()))
    return optimizer, scheduler
