"""``s2s train [overrides]``: Hydra composes ``conf/train.yaml`` with the overrides and trains."""

from __future__ import annotations

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
    sys.argv = ["s2s train", *args]
    hydra_entry()
