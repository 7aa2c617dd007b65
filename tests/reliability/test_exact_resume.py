"""Resuming from a mid-epoch checkpoint continues exactly: same batches, same dropout, same losses.

The in-process counterpart of the slow kill -9 test (test_resume_kill.py): Lightning restores
weights, optimizer, scheduler and loop counters; the data module restores the position in the
epoch and RNGStateCallback the random state.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning.pytorch as pl
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from s2s.data.text.datamodule import TranslationDataModule
from s2s.decoding import DecodingOptions
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.training.checkpoint_io import AtomicCheckpointIO
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import OptimConfig
from s2s.training.resume import RNGStateCallback


class Record(pl.Callback):
    """Each step's batch, loss and LR; and a copy of last.ckpt as it stood after chosen steps."""

    def __init__(self, keep: dict[int, Path] | None = None) -> None:
        self.steps: dict[int, tuple[list[int], float, float]] = {}  # step -> (batch, loss, lr)
        self.sources: dict[int, list[list[int]]] = {}  # step -> each source's ids
        self.keep = keep or {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step in self.keep:  # last.ckpt was written after the previous step
            shutil.copy(Path(trainer.checkpoint_callback.dirpath) / "last.ckpt", self.keep[trainer.global_step])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        lr = pl_module.lr_schedulers().get_last_lr()[0]
        self.steps[trainer.global_step] = (batch.indices, float(outputs["loss"]), lr)
        self.sources[trainer.global_step] = [
            row[:length].tolist() for row, length in zip(batch.source, batch.source_lengths)
        ]


def datamodule_for(corpus_dir: Path, subword_alpha: float | None = None) -> TranslationDataModule:
    return TranslationDataModule(
        data_dir=str(corpus_dir),
        src_lang="en",
        tgt_langs=["de"],
        max_tokens=1024,
        valid_max_sentences=8,
        seed=1,
        subword_alpha=subword_alpha,
    )


def batches_per_epoch(corpus_dir: Path) -> int:
    datamodule = datamodule_for(corpus_dir)
    datamodule.setup("fit")
    return len(datamodule.train_dataloader())


def fit(
    corpus_dir: Path,
    ckpt_dir: Path,
    *,
    max_steps: int,
    resume: Path | None = None,
    keep: dict[int, Path] | None = None,
    subword_alpha: float | None = None,
) -> Record:
    pl.seed_everything(1)
    datamodule = datamodule_for(corpus_dir, subword_alpha)
    tokenizer = datamodule.tokenizer
    module = Seq2SeqModule(
        model_config=ModelConfig(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            d_model=32,
            num_heads=4,
            encoder_layers=1,
            decoder_layers=1,
            ffn_dim=64,
            dropout=0.3,
        ),
        tokenizer=tokenizer,
        optim=OptimConfig(lr=2e-3, warmup_steps=5),
        decoding=DecodingOptions(beam_size=1, max_len_a=0, max_len_b=3),
        info=CheckpointInfo(tgt_langs=("de",)),
    )
    record = Record(keep)
    checkpoints = ModelCheckpoint(
        dirpath=ckpt_dir, filename="last", every_n_train_steps=1, enable_version_counter=False
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        max_epochs=100,
        logger=False,
        callbacks=[checkpoints, RNGStateCallback(), record],
        plugins=[AtomicCheckpointIO()],
        val_check_interval=5,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        gradient_clip_val=1.0,
        reload_dataloaders_every_n_epochs=int(subword_alpha is not None),
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    return record


def test_resume_mid_epoch_and_at_epoch_end_matches_uninterrupted_run(corpus_dir, tmp_path):
    n = batches_per_epoch(corpus_dir)
    assert n >= 4
    total = 2 * n + 3
    stops = (n + n // 2, 2 * n)  # in the middle of the second epoch, and at its end
    kept = {stop: tmp_path / f"at{stop}.ckpt" for stop in stops}
    reference = fit(corpus_dir, tmp_path / "reference", max_steps=total, keep=kept).steps
    # Lightning must reach the sampler's set_epoch, or every epoch repeats epoch 0's order.
    epochs = [[reference[e * n + b][0] for b in range(1, n + 1)] for e in range(2)]
    assert epochs[0] != epochs[1]
    assert sorted(i for b in epochs[0] for i in b) == sorted(i for b in epochs[1] for i in b)  # each example once
    for stop, saved in kept.items():
        resumed = fit(corpus_dir, tmp_path / f"resumed{stop}", max_steps=total, resume=saved).steps
        assert sorted(resumed) == list(range(stop + 1, total + 1))
        for step in resumed:
            assert resumed[step][0] == reference[step][0], (stop, step)  # the same batch
            assert resumed[step][1:] == pytest.approx(reference[step][1:], rel=1e-6), (stop, step)  # loss, lr


def test_subword_sampling_segments_each_epoch_anew_and_a_resumed_run_draws_the_same(corpus_dir, tmp_path):
    n = batches_per_epoch(corpus_dir)  # the count is close, not equal: sampled lengths batch differently
    stop = n + n // 2
    kept = {stop: tmp_path / "mid.ckpt"}
    reference = fit(corpus_dir, tmp_path / "reference", max_steps=stop + 3, keep=kept, subword_alpha=0.3)
    # The first epoch's and a later batch's segmentations of the same sentences differ.
    by_epoch = [{}, {}]
    for step, (indices, _, _) in reference.steps.items():
        for index, ids in zip(indices, reference.sources[step]):
            by_epoch[step > n].setdefault(index, ids)
    shared = by_epoch[0].keys() & by_epoch[1].keys()
    assert shared and any(by_epoch[0][i] != by_epoch[1][i] for i in shared)
    resumed = fit(corpus_dir, tmp_path / "resumed", max_steps=stop + 3, resume=kept[stop], subword_alpha=0.3)
    assert sorted(resumed.steps) == list(range(stop + 1, stop + 4))
    for step in resumed.steps:
        assert resumed.sources[step] == reference.sources[step], step  # the same segmentation
        assert resumed.steps[step][1:] == pytest.approx(reference.steps[step][1:], rel=1e-6), step


def test_subword_sampling_needs_a_loader_per_epoch(corpus_dir):
    from types import SimpleNamespace

    from s2s.errors import ConfigError

    datamodule = datamodule_for(corpus_dir, subword_alpha=0.5)
    datamodule.setup("fit")
    datamodule.trainer = SimpleNamespace(reload_dataloaders_every_n_epochs=0, current_epoch=0)
    with pytest.raises(ConfigError, match="reload_dataloaders_every_n_epochs=1"):
        datamodule.train_dataloader()
    with pytest.raises(ConfigError, match="above 0"):
        datamodule_for(corpus_dir, subword_alpha=0.0)
