"""Random-number state in training checkpoints, so a resumed run draws what the original would have.

Lightning restores weights, optimizer, LR scheduler and loop counters itself, and the data
module restores the position inside the epoch (``ResumableDataModule.state_dict``). What is
left is randomness: dropout masks come from the global torch RNG (and the CUDA ones on GPUs).
The states are stored as tensors and plain ints, so the checkpoint still loads with
``weights_only=True``; they are put back just before the first batch after resuming, because
Lightning's own set-up between loading and that batch is not the same as what an uninterrupted
run does between saving and its next batch.
"""

from __future__ import annotations

import random
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

KEY = "s2s_rng"


def capture_rng() -> dict[str, Any]:
    legacy = np.random.get_state()
    assert isinstance(legacy, tuple)  # the global MT19937's state, in the default legacy form
    kind, keys, pos, has_gauss, cached = legacy
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RNGStateCallback(pl.Callback):
    """Saves every RNG state in each checkpoint; restores it at the first training batch after a resume."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint[KEY] = capture_rng()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.pending = checkpoint.get(KEY)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.pending is not None:
            restore_rng(self.pending)
            self.pending = None
