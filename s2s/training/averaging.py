"""Checkpoint averaging: the element-wise mean of several checkpoints' weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from s2s.checkpoint import export_checkpoint, read_checkpoint, split_checkpoint, tokenizer_from_state
from s2s.errors import CheckpointError
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq


def last_checkpoints(run_dir: Path, n: int) -> list[Path]:
    """The ``n`` newest step checkpoints of a run (``checkpoints/*.ckpt``, by training step)."""
    found = []
    for path in (run_dir / "checkpoints").glob("*.ckpt"):
        entry, _ = split_checkpoint(read_checkpoint(path))
        found.append((entry.get("info", {}).get("step", -1), path))
    unique = {}
    for step, path in sorted(found):
        unique[step] = path  # last.ckpt and a step checkpoint of the same step are the same weights
    paths = [path for _, path in sorted(unique.items())][-n:]
    if len(paths) < n:
        raise CheckpointError(f"{run_dir}/checkpoints holds {len(paths)} distinct checkpoints, fewer than {n}")
    return paths


def average_checkpoints(paths: list[Path], out: Path) -> None:
    """Average the weights of ``paths`` (same architecture and tokenizer) into one exported checkpoint."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    first_entry = None
    for path in paths:
        entry, state = split_checkpoint(read_checkpoint(path))
        if first_entry is None:
            first_entry = entry
        elif entry["model_config"] != first_entry["model_config"] or entry["tokenizer"] != first_entry["tokenizer"]:
            raise CheckpointError(f"{path} has a different architecture or tokenizer than {paths[0]}")
        for name, value in state.items():
            total[name] = total.get(name, 0) + value.double()
    averaged = {name: (value / len(paths)).to(dtype=torch.float32) for name, value in total.items()}
    assert first_entry is not None  # paths is not empty
    model = Seq2Seq(ModelConfig.from_dict(dict(first_entry["model_config"])))
    model.load_state_dict(averaged)
    info = dataclasses.replace(
        CheckpointInfo.from_dict(dict(first_entry.get("info", {}))), averaged_from=tuple(str(p) for p in paths)
    )
    export_checkpoint(model, tokenizer_from_state(first_entry["tokenizer"]), info, out)
