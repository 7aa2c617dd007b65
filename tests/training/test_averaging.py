import pytest
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.errors import CheckpointError
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.training.averaging import average_checkpoints, last_checkpoints
from tests.conftest import tiny_config


def save(tokenizer, path, seed, step, **overrides):
    torch.manual_seed(seed)
    model = Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size, **overrides))
    export_checkpoint(model, tokenizer, CheckpointInfo(step=step), path)
    return model


def test_average_is_the_elementwise_mean(tmp_path, tokenizer):
    a = save(tokenizer, tmp_path / "a.pt", 0, 10)
    b = save(tokenizer, tmp_path / "b.pt", 1, 20)
    average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "avg.pt")
    averaged = load_checkpoint(tmp_path / "avg.pt").model.state_dict()
    for name, value in a.state_dict().items():
        torch.testing.assert_close(averaged[name], (value + b.state_dict()[name]) / 2)


def test_last_n_of_a_run_directory(tmp_path, tokenizer):
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    for seed, step in enumerate([100, 200, 300]):
        save(tokenizer, run / f"step-{step}.ckpt", seed, step)
    save(tokenizer, run / "last.ckpt", 2, 300)  # same step as step-300: counted once
    assert [p.name for p in last_checkpoints(tmp_path / "run", 2)] in (
        ["step-200.ckpt", "step-300.ckpt"],
        ["step-200.ckpt", "last.ckpt"],
    )
    with pytest.raises(CheckpointError, match="fewer than 4"):
        last_checkpoints(tmp_path / "run", 4)


def test_mismatched_architectures_are_refused(tmp_path, tokenizer):
    save(tokenizer, tmp_path / "a.pt", 0, 1)
    save(tokenizer, tmp_path / "b.pt", 0, 2, d_model=64)
    with pytest.raises(CheckpointError, match="different architecture"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "avg.pt")
