"""Speech training resumes exactly, as text training does (test_exact_resume.py).

The speech data module keeps its place in the epoch (``ResumableDataModule``), and augmentation
(speed perturbation, SpecAugment) is drawn from (seed, epoch, utterance) alone: reading the
utterances in another order, in worker processes or after a resume gives the same features.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from s2s.data.prepare.an4 import prepare_an4
from s2s.data.speech.datamodule import SpeechDataModule
from s2s.decoding import DecodingOptions
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.training.checkpoint_io import AtomicCheckpointIO
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import OptimConfig
from s2s.training.resume import RNGStateCallback
from tests.reliability.test_exact_resume import Record
from tests.speech_helpers import an4_subset

AUGMENTATION = {
    "spec_augment": {"freq_masks": 2, "freq_width": 10, "time_masks": 2, "time_width": 20, "time_ratio": 0.2},
    "speed_perturb": [0.9, 1.0, 1.1],
}


@pytest.fixture(scope="module")
def an4_data(tmp_path_factory) -> Path:
    local = an4_subset(tmp_path_factory.mktemp("an4_local"), speakers=8, per_speaker=4)
    out = tmp_path_factory.mktemp("an4")
    prepare_an4(out=out, local=local, vocab_size=40, valid_speakers=2, test_speakers=2, seed=3)
    return out


def datamodule_for(data: Path, num_workers: int = 0) -> SpeechDataModule:
    return SpeechDataModule(
        data_dir=str(data),
        src_lang="en",
        tgt_langs=["en"],
        task="transcribe",
        max_frames=1200,
        valid_max_sentences=4,
        num_workers=num_workers,
        seed=1,
        **AUGMENTATION,
    )


def test_augmentation_depends_on_the_seed_epoch_and_utterance_only(an4_data):
    datamodule = datamodule_for(an4_data)
    datamodule.setup()
    dataset = datamodule.train_dataset
    first = [dataset[i].features for i in range(6)]
    reversed_order = [dataset[i].features for i in reversed(range(6))][::-1]
    assert all(torch.equal(a, b) for a, b in zip(first, reversed_order))
    dataset.set_epoch(1)
    later = [dataset[i].features for i in range(6)]
    assert any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(first, later))  # a new epoch's draws


def test_worker_processes_augment_as_the_main_process_does(an4_data):
    """Each worker holds a copy of the dataset; a random state in it would repeat in every worker."""

    def epoch_one(workers: int) -> list[tuple[list[int], torch.Tensor]]:
        datamodule = datamodule_for(an4_data, num_workers=workers)
        datamodule.setup()
        loader = datamodule.train_dataloader()
        loader.batch_sampler.set_epoch(1)  # as Lightning does before each epoch's iterator
        return [(batch.indices, batch.source) for batch in loader]

    in_process, in_workers = epoch_one(0), epoch_one(2)
    assert len(in_process) >= 2
    assert [indices for indices, _ in in_process] == [indices for indices, _ in in_workers]
    for (_, a), (_, b) in zip(in_process, in_workers):  # the same draws; a worker's one thread rounds differently
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def fit(
    data: Path, ckpt_dir: Path, *, max_steps: int, resume: Path | None = None, keep: dict[int, Path] | None = None
) -> Record:
    pl.seed_everything(1)
    datamodule = datamodule_for(data)
    tokenizer = datamodule.tokenizer
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        encoder="audio",
        d_model=32,
        num_heads=4,
        encoder_layers=1,
        decoder_layers=1,
        ffn_dim=64,
        conv_channels=8,
        dropout=0.3,
        ctc=True,
    )
    module = Seq2SeqModule(
        model_config=config,
        tokenizer=tokenizer,
        optim=OptimConfig(lr=2e-3, warmup_steps=5),
        decoding=DecodingOptions(beam_size=1, max_len_a=0, max_len_b=3),
        info=CheckpointInfo(task="asr", tgt_langs=("en",)),
        ctc_weight=0.3,
    )
    module.model.encoder.set_feature_stats(datamodule.feature_stats.mean, datamodule.feature_stats.std)
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
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        gradient_clip_val=1.0,
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    return record


def test_a_resumed_speech_run_trains_on_the_same_augmented_batches_with_the_same_losses(an4_data, tmp_path):
    datamodule = datamodule_for(an4_data)
    datamodule.setup()
    n = len(datamodule.train_dataloader())
    assert n >= 3
    stop, total = n + n // 2, n + n // 2 + 3  # in the middle of the second epoch
    kept = {stop: tmp_path / "mid.ckpt"}
    reference = fit(an4_data, tmp_path / "reference", max_steps=total, keep=kept)
    resumed = fit(an4_data, tmp_path / "resumed", max_steps=total, resume=kept[stop])
    assert sorted(resumed.steps) == list(range(stop + 1, total + 1))
    for step in resumed.steps:
        assert resumed.steps[step][0] == reference.steps[step][0], step  # the same utterances
        assert resumed.sources[step] == reference.sources[step], step  # augmented alike
        assert resumed.steps[step][1:] == pytest.approx(reference.steps[step][1:], rel=1e-6), step  # loss, lr
