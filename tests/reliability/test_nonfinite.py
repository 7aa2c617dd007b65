"""A non-finite loss or gradient skips its update and is counted; N in a row stop training, checkpoints intact."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from s2s.checkpoint import load_checkpoint
from s2s.data.text.datamodule import TranslationDataModule
from s2s.decoding import DecodingOptions
from s2s.errors import NonFiniteLossError
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.training.checkpoint_io import AtomicCheckpointIO
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import OptimConfig
from tests.reliability.helpers import error_lines, run_cli


class Faulty(Seq2SeqModule):
    """Real training, except that chosen steps get a NaN loss or an infinite gradient."""

    def __init__(self, *, nan_loss_steps=(), inf_grad_steps=(), **kwargs) -> None:
        super().__init__(**kwargs)
        self.nan_loss_steps, self.inf_grad_steps = set(nan_loss_steps), set(inf_grad_steps)
        self.weights_after: dict[int, torch.Tensor] = {}  # step -> a copy of all weights

    def training_loss(self, batch):
        loss, tokens = super().training_loss(batch)
        return (loss * float("nan") if self.global_step in self.nan_loss_steps else loss), tokens

    def on_after_backward(self) -> None:
        if self.global_step in self.inf_grad_steps:
            next(self.parameters()).grad.view(-1)[0] = float("inf")

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self.weights_after[self.global_step] = torch.cat([p.detach().flatten() for p in self.parameters()]).clone()


def fit(corpus_dir: Path, tmp_path: Path, *, max_steps: int, max_nonfinite_steps: int, **faults):
    datamodule = TranslationDataModule(data_dir=str(corpus_dir), src_lang="en", tgt_langs=["de"], max_tokens=600)
    tokenizer = datamodule.tokenizer
    torch.manual_seed(0)
    module = Faulty(
        model_config=ModelConfig(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            d_model=32,
            num_heads=4,
            encoder_layers=1,
            decoder_layers=1,
            ffn_dim=64,
        ),
        tokenizer=tokenizer,
        optim=OptimConfig(lr=1e-3, warmup_steps=0),
        decoding=DecodingOptions(),
        info=CheckpointInfo(tgt_langs=("de",)),
        max_nonfinite_steps=max_nonfinite_steps,
        **faults,
    )
    checkpoints = ModelCheckpoint(
        dirpath=tmp_path, filename="last", every_n_train_steps=1, enable_version_counter=False
    )
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=max_steps,
        logger=False,
        callbacks=[checkpoints],
        plugins=[AtomicCheckpointIO()],
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
    )
    return module, trainer, datamodule


def test_nonfinite_steps_are_skipped_and_counted(corpus_dir, tmp_path, capsys):
    module, trainer, datamodule = fit(
        corpus_dir, tmp_path, max_steps=7, max_nonfinite_steps=3, nan_loss_steps={2, 3}, inf_grad_steps={5}
    )
    trainer.fit(module, datamodule=datamodule)
    w = module.weights_after
    assert trainer.global_step == 7 and module.nonfinite_skipped == 3
    # global_step counts optimizer calls, skipped or not: the weights after a skipped step are those before it.
    for skipped in (3, 4, 6):
        assert torch.equal(w[skipped], w[skipped - 1]), skipped
    for updated in (2, 5, 7):
        assert not torch.equal(w[updated], w[updated - 1]), updated
    assert all(bool(torch.isfinite(v).all()) for v in w.values())
    assert float(trainer.callback_metrics["train/nonfinite_skipped"]) == 3.0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "update skipped" in line]
    assert len(warnings) == 3 and "non-finite gradient" in warnings[2]


def test_too_many_nonfinite_steps_in_a_row_stop_without_spoiling_checkpoints(corpus_dir, tmp_path):
    module, trainer, datamodule = fit(
        corpus_dir, tmp_path, max_steps=50, max_nonfinite_steps=3, nan_loss_steps=set(range(4, 100))
    )
    with pytest.raises(NonFiniteLossError, match="non-finite for 3 steps in a row"):
        trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 4 + 2  # steps 4 and 5 skipped, the third in a row raised before its step
    last = load_checkpoint(tmp_path / "last.ckpt")
    weights = torch.cat([p.detach().flatten() for p in last.model.parameters()])
    assert torch.equal(weights, module.weights_after[4])  # the last good update's weights
    assert last.info.step == 6


def test_cli_stops_with_one_line_naming_the_last_good_checkpoint(corpus_dir, tmp_path):
    """A learning rate of 1e30 blows the weights up after one update: every later loss is non-finite."""
    run_dir = tmp_path / "run"
    result = run_cli(
        "train",
        "experiment=smoke",
        "logger=none",
        f"data.data_dir={corpus_dir}",
        f"hydra.run.dir={run_dir}",
        "optim.lr=1e30",
        "optim.warmup_steps=0",
        "max_nonfinite_steps=3",
        "checkpoint.every_n_train_steps=1",
        "trainer.max_steps=20",
        "trainer.enable_progress_bar=false",
        "data.train_max_sentences=100",
    )
    err = error_lines(result)
    assert result.returncode == 2 and b"Traceback" not in result.stderr, result.stderr.decode()[-3000:]
    assert err[-1].startswith("s2s train: error: training stopped at step")
    assert "3 steps in a row" in err[-1] and str(run_dir / "checkpoints" / "last.ckpt") in err[-1]
    assert sum("update skipped" in line for line in err) == 3
    load_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # still a whole, loadable checkpoint
