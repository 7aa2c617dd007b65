"""``s2s train [overrides]``: Hydra composes ``conf/train.yaml`` with the overrides and trains."""

from __future__ import annotations

import importlib.util
import sys

import hydra
from omegaconf import DictConfig

from s2s.errors import S2SError


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def hydra_entry(cfg: DictConfig) -> None:
    from s2s.training import train  # imported here so `s2s train --help` stays fast

    try:
        train(cfg)
    except (S2SError, ValueError, TypeError) as error:
        # Hydra would print a traceback; a user error deserves one line.
        print(f"s2s train: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: list[str]) -> None:
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
