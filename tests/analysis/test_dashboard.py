"""Validation rounds log sample translations, attention heatmaps and the heads' roles and importance
(CSV files or an offline W&B run)."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from s2s.data.text.datamodule import TranslationDataModule
from s2s.decoding import DecodingOptions
from s2s.model.info import CheckpointInfo
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import OptimConfig
from tests.conftest import multi30k_lines, tiny_config


@pytest.fixture(scope="module")
def data_dir(tokenizer, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("m30k")
    (folder / "spm.model").write_bytes(tokenizer.model_bytes)
    for split, source, count in (("train", "train", 40), ("valid", "val", 6)):
        for lang in ("en", "de"):
            (folder / f"{split}.{lang}").write_text(
                "\n".join(multi30k_lines(source, lang, count)) + "\n", encoding="utf-8"
            )
    return folder


def fit(data_dir: Path, run_dir: Path, logger) -> Seq2SeqModule:
    torch.manual_seed(0)
    datamodule = TranslationDataModule(data_dir=str(data_dir), src_lang="en", tgt_langs=["de"], max_tokens=400)
    tokenizer = datamodule.tokenizer
    module = Seq2SeqModule(
        model_config=tiny_config(vocab_size=tokenizer.vocab_size),
        tokenizer=tokenizer,
        optim=OptimConfig(warmup_steps=1),
        decoding=DecodingOptions(beam_size=1, max_len_b=3, max_len_a=0.0),
        info=CheckpointInfo(task="translation", tgt_langs=("de",)),
        attention_examples=2,
        head_report_batches=1,
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=logger,
        default_root_dir=str(run_dir),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=1,
    )
    trainer.fit(module, datamodule=datamodule)
    return module


def test_csv_logger_writes_heatmaps_and_samples(data_dir, tmp_path):
    fit(data_dir, tmp_path, CSVLogger(save_dir=str(tmp_path), name="csv", version=""))
    pictures = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "csv" / "attention").rglob("*.png"))
    assert pictures == [
        f"csv/attention/step0000001/example{i}-{kind}.png" for i in (0, 1) for kind in ("cross", "decoder", "encoder")
    ]
    assert all((tmp_path / p).stat().st_size > 2000 for p in pictures)
    samples = list((tmp_path / "csv" / "samples").glob("*.tsv"))
    assert len(samples) == 1 and samples[0].read_text(encoding="utf-8").startswith("source\treference\thypothesis\n")
    heads = (tmp_path / "csv" / "heads" / "step0000001.tsv").read_text(encoding="utf-8").splitlines()
    assert heads[0] == "head\tattention\tlayer\trole\tfigure\tconfidence\tgradient"
    rows = [line.split("\t") for line in heads[1:]]
    assert len(rows) == 2 * 3 * 4 and rows[0][0] == "encoder:1:1"
    assert all(float(r[6]) > 0 for r in rows)  # every head of a random model moves the loss a little


def test_offline_wandb_run_holds_the_table_and_heatmaps(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(project="s2s-test", save_dir=str(tmp_path), offline=True)
    fit(data_dir, tmp_path, logger)
    logger.experiment.finish()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    media = runs[0] / "files" / "media"
    tables = list(media.rglob("*.table.json"))
    images = list(media.rglob("*.png"))
    assert any("samples" in t.name for t in tables)
    assert any(t.name.startswith("heads") for t in tables)
    assert len(images) == 6 and any("attention" in str(p) for p in images)
    assert len(list((tmp_path / "attention").rglob("*.png"))) == 6  # and the same pictures as files in the run dir
