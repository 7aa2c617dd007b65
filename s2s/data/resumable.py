"""What the text and speech data modules share: loaders of token-budget batches that resume exactly.

A resumed run must see the batches an uninterrupted one would have seen next, with the same
dropout masks: Lightning restores the weights, optimizer, scheduler and loop counters,
``RNGStateCallback`` (s2s/training/resume.py) the random state, and this class the position in the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from s2s.data.batching import Batch, TokenBudgetBatchSampler


class ResumableDataModule(pl.LightningDataModule):
    """``state_dict`` records the epoch and how many of its batches were trained; the next training
    loader (``resumed``) starts at the batch after them."""

    def __init__(self, seed: int, num_workers: int) -> None:
        super().__init__()
        self.seed, self.num_workers = seed, num_workers
        self.resume_point: tuple[int, int] | None = None  # set when a checkpoint is loaded

    def batch_loader(self, size: int, lengths: Sequence[tuple[int, int]], *, max_tokens: int, shuffle: bool,
                     collate_fn: Callable[[list[int]], Batch],
                     on_epoch: Callable[[int], None] | None = None) -> DataLoader:
        """Batches of the positions ``0 .. size-1`` under ``max_tokens`` (``TokenBudgetBatchSampler.for_trainer``),
        each collated by ``collate_fn(positions)``; ``on_epoch(epoch)`` is told each new epoch."""
        sampler = TokenBudgetBatchSampler.for_trainer(self.trainer, lengths, max_tokens=max_tokens, shuffle=shuffle,
                                                      seed=self.seed, on_epoch=on_epoch)
        # Its own generator: creating an iterator draws a worker seed, which must not advance the
        # global RNG (dropout), or a resumed run would draw different masks than an uninterrupted one.
        # (torch types the dataset as a Dataset; any sequence serves as a map-style one)
        return DataLoader(range(size), batch_sampler=sampler, num_workers=self.num_workers,  # type: ignore[arg-type]
                          collate_fn=collate_fn, generator=torch.Generator().manual_seed(self.seed))

    def resumed(self, loader: DataLoader) -> DataLoader:
        """The training ``loader``, positioned after the batches a loaded checkpoint had trained (once)."""
        if self.resume_point is not None:
            # Lightning draws the first batch of a resumed run before it calls set_epoch: set it here.
            epoch, batches_done = self.resume_point
            sampler = loader.batch_sampler
            assert isinstance(sampler, TokenBudgetBatchSampler)  # the loader is batch_loader's
            sampler.set_epoch(epoch)
            sampler.skip_on_resume(epoch, batches_done)
            self.resume_point = None
        return loader

    # ----- Lightning stores this dict in every training checkpoint ------------------------------------
    def state_dict(self) -> dict:
        """The epoch and how many of its batches were trained, so a resumed run goes on with the next one."""
        trainer = self.trainer
        if trainer is None:
            return {}
        loop = trainer.fit_loop
        # Lightning types these trackers by their base class, which has no ``processed``
        return {"epoch": loop.epoch_progress.current.processed,  # type: ignore[attr-defined]
                "batches_done": loop.epoch_loop.batch_progress.current.processed}  # type: ignore[attr-defined]

    def load_state_dict(self, state_dict: dict) -> None:
        if "epoch" in state_dict:
            self.resume_point = (int(state_dict["epoch"]), int(state_dict["batches_done"]))
