"""The scale-out configs compose and build: trainer=ddp, trainer=fsdp, hydra/launcher=slurm, resume=auto."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from lightning.pytorch.strategies import FSDPStrategy

from s2s.checkpoint import atomic_save
from s2s.errors import CheckpointError, ConfigError
from s2s.nn.layers import DecoderLayer, EncoderLayer
from s2s.training.run import resolve_resume


def config(*overrides: str, hydra: bool = False):
    with initialize_config_module(config_module="s2s.conf", version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra)


def test_fsdp_trainer_config_builds_a_layer_wrapped_full_state_dict_strategy():
    cfg = config("trainer=fsdp", "trainer.strategy.activation_checkpointing=true")
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.use_distributed_sampler is False
    strategy = instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy._state_dict_type == "full"  # checkpoints stay plain s2s checkpoints
    layers = {EncoderLayer, DecoderLayer}
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == layers  # one FSDP unit per layer
    assert strategy._activation_checkpointing_kwargs["auto_wrap_policy"]._module_classes == layers


def test_ddp_trainer_config_is_lightning_ddp():
    cfg = config("trainer=ddp", "trainer.devices=2")
    assert (cfg.trainer.strategy, cfg.trainer.devices, cfg.trainer.use_distributed_sampler) == ("ddp", 2, False)


def test_slurm_launcher_follows_the_trainer_layout():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = config(
        "hydra/launcher=slurm",
        "trainer=ddp",
        "trainer.accelerator=gpu",
        "trainer.devices=4",
        "trainer.num_nodes=2",
        "hydra.launcher.partition=gpu",
        hydra=True,
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert launcher.partition == "gpu" and launcher.max_num_timeout == 5


def test_resume_modes(tmp_path):
    assert resolve_resume(None, tmp_path) is None
    assert resolve_resume("auto", tmp_path) is None  # nothing yet: a fresh start
    with pytest.raises(ConfigError, match="resume checkpoint not found"):
        resolve_resume("last", tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        resolve_resume("auto", tmp_path)
    atomic_save({"s2s": {"model_config": {}}, "state_dict": {}}, last)
    with pytest.raises(ConfigError, match="resume needs a training .ckpt"):
        resolve_resume("last", tmp_path)
    atomic_save({"s2s": {"model_config": {}}, "state_dict": {}, "optimizer_states": [{"x": torch.zeros(1)}]}, last)
    assert resolve_resume("auto", tmp_path) == resolve_resume("last", tmp_path) == str(last)
