"""Validation loss counts each batch once, as WER and BLEU count each example once.

Under DDP the last rank's share of the validation batches is topped up with batches another rank
already had (``TokenBudgetBatchSampler``, ``pad=True``), so that every rank takes the same number
of steps. ``val/loss`` is gathered from all ranks and a repeated batch is counted once: here one
process whose loader repeats a batch, as a padded share does.
"""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from s2s.data.text.datamodule import TranslationDataModule, collate_indices
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.losses import sequence_loss
from s2s.training.optim import OptimConfig


def test_a_repeated_validation_batch_counts_once_in_the_loss(corpus_dir):
    datamodule = TranslationDataModule(
        data_dir=str(corpus_dir), src_lang="en", tgt_langs=["de"], valid_max_sentences=12
    )
    datamodule.setup()
    tokenizer, dataset = datamodule.tokenizer, datamodule.valid_dataset
    torch.manual_seed(0)
    module = Seq2SeqModule(
        model_config=ModelConfig(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            d_model=32,
            num_heads=4,
            encoder_layers=1,
            decoder_layers=1,
            ffn_dim=64,
            dropout=0.0,
        ),
        tokenizer=tokenizer,
        optim=OptimConfig(),
        decoding=None,
        info=CheckpointInfo(tgt_langs=("de",)),
    )
    batches = [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11]]
    collate = lambda indices: collate_indices(
        dataset,
        indices,
        pad_id=tokenizer.pad_id,  # noqa: E731
        eos_id=tokenizer.eos_id,
    )
    padded = DataLoader(range(len(dataset)), batch_sampler=[*batches, batches[0]], collate_fn=collate)
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.validate(module, dataloaders=padded, verbose=False)[0]["val/loss"]

    module.eval()
    with torch.no_grad():
        sums = [sequence_loss(module.model, collate(b), pad_id=tokenizer.pad_id, smoothing=0.0) for b in batches]
    once = sum(float(total) for total, _ in sums) / sum(int(tokens) for _, tokens in sums)
    first_twice = (2 * float(sums[0][0]) + float(sums[1][0])) / (2 * int(sums[0][1]) + int(sums[1][1]))
    assert once != pytest.approx(first_twice, rel=1e-4)  # the two batches' losses differ enough to tell
    assert logged == pytest.approx(once, rel=1e-5)
