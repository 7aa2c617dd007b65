"""``s2s train [overrides]``: Hydra composes ``conf/train.yaml`` with the overrides and trains."""

from __future__ import annotations

import importlib.util
import sys

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from s2s.errors import ConfigError, S2SError


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def hydra_entry(cfg: DictConfig) -> None:
    from s2s.training.run import train  # imported here so `s2s train --help` stays fast

    try:
        train(cfg)
    except (S2SError, ValueError, TypeError, InstantiationException) as error:
        # Hydra would print a traceback; a user error deserves one line.
        cause = error.__cause__ if isinstance(error, InstantiationException) and error.__cause__ else error
        print(f"s2s train: error: {one_line(str(cause))}", file=sys.stderr)
        raise SystemExit(2) from None


def one_line(message: str) -> str:
    """Hydra's multi-line composition error as one line (what failed, and the choices there are)."""
    lines = [line.strip() for line in message.split("Config search path:")[0].splitlines() if line.strip()]
    head, options = [], []
    for line in lines:
        if line.startswith("Available options"):
            options.append(line.rstrip(":").lower())
        elif line.startswith(("To append", "full_key", "object_type", "reference_type")):
            continue
        elif options:
            options.append(line)
        else:
            head.append(line.removeprefix("In 'train': "))
    text = " ".join(head)
    if options:
        text += f" ({options[0]}: {', '.join(options[1:])})"
    return text


def check_overrides(args: list[str]) -> None:
    """Compose once before Hydra runs, so a misspelled key or option is one line, not a page."""
    if any(arg.startswith("-") for arg in args):  # --multirun sweeps, --cfg, --help: Hydra's own handling
        return
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module="s2s.conf", version_base="1.3"):
            compose("train", overrides=args)
    except (HydraException, OmegaConfBaseException) as error:
        message = one_line(str(error))
        if error.__cause__ is not None:  # e.g. "Key 'd_modle' is not in struct"
            message += f" {one_line(str(error.__cause__))}"
        raise ConfigError(message) from None


def run(args: list[str]) -> None:
    check_overrides(args)
    # Lightning's DDP launcher starts ranks 1.. by re-running this process as
    # `python -m <__main__.__spec__.name> <sys.argv[1:]> hydra.run.dir=...`. Started as `s2s train`,
    # that would be the console script's spec (none) or s2s.cli.main without "train": point it here.
    import __main__

    spec = getattr(__main__, "__spec__", None)
    __main__.__spec__ = importlib.util.find_spec(__name__)
    sys.argv = ["s2s train", *args]
    try:
        hydra_entry()
    finally:
        __main__.__spec__ = spec


if __name__ == "__main__":  # how DDP's other ranks (and torchrun) start: python -m s2s.cli.train OVERRIDES
    hydra_entry()
