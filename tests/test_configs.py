"""Every config group option composes, and its objects build with exactly their constructors' arguments."""

import inspect
from importlib import resources

import lightning.pytorch as pl
import pytest
from hydra import compose, initialize_config_module
from hydra.core.hydra_config import HydraConfig
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from s2s.model.config import ModelConfig

CONF = resources.files("s2s.conf")


def options(group: str) -> list[str]:
    return sorted(p.name[:-5] for p in CONF.joinpath(group).iterdir() if p.name.endswith(".yaml"))


def composed(overrides: list[str]):
    with initialize_config_module(config_module="s2s.conf", version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.hydra.runtime.output_dir = "/tmp/s2s-config-test"
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.mark.parametrize(
    "group,option", [(g, o) for g in ("model", "optim", "decode", "data", "task") for o in options(g)]
)
def test_group_option_instantiates(group, option):
    cfg = composed([f"{group}={option}"])
    if group == "model":
        config = instantiate(cfg.model, vocab_size=100, pad_id=0)
        assert isinstance(config, ModelConfig)
    elif group == "task":
        assert cfg.task.name
    else:
        instantiate(cfg[group])


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options_are_trainer_arguments(option):
    cfg = composed([f"trainer={option}"])
    arguments = set(inspect.signature(pl.Trainer.__init__).parameters)
    assert set(cfg.trainer) - {"_target_"} <= arguments


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(option):
    cfg = composed([f"logger={option}"])
    logger = instantiate(cfg.logger) if cfg.logger else None
    assert logger is None or hasattr(logger, "log_metrics")


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_compose(experiment):
    cfg = composed([f"experiment={experiment}"])
    assert cfg.name == experiment
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.to_container(cfg, resolve=True)
    instantiate(cfg.model, vocab_size=100, pad_id=0)


def test_misspelled_keys_fail():
    with pytest.raises(ConfigCompositionException):
        composed(["model.d_modle=128"])
    with pytest.raises(ConfigCompositionException):
        composed(["model=huge"])


def test_the_base_files_restate_their_dataclasses_defaults():
    """model/default.yaml and decode/greedy.yaml list every field (so any can be overridden on the
    command line) at the value the dataclass itself gives it: one default, written twice, kept equal."""
    import dataclasses

    from s2s.decoding import DecodingOptions

    for group, option, cls, required in (
        ("model", "default", ModelConfig, {"vocab_size", "pad_id"}),
        ("decode", "greedy", DecodingOptions, set()),
    ):
        listed = OmegaConf.to_container(composed([f"{group}={option}"])[group])
        listed.pop("_target_")
        defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name not in required}
        assert listed == defaults, group
