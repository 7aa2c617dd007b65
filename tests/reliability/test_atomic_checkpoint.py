"""Checkpoint writes are atomic: a kill or an error mid-write leaves the previous file intact."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
import time

import pytest
import torch

from s2s.checkpoint import atomic_save
from s2s.training.checkpoint_io import AtomicCheckpointIO
from tests.reliability.helpers import cli_env

WRITER = """
import sys, torch
from s2s.checkpoint import atomic_save
path, i = sys.argv[1], 0
while True:  # rewrite an 8 MB checkpoint as fast as possible until killed
    i += 1
    atomic_save({"step": i, "weights": torch.full((2_000_000,), float(i))}, path)
"""


def test_sigkill_during_writes_never_leaves_a_partial_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    rng = random.Random(0)
    steps = []
    for _ in range(4):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=cli_env())
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.2, 1.0))  # land somewhere inside a write, most likely
        writer.kill()  # SIGKILL: no cleanup runs
        writer.wait()
        data = torch.load(path, weights_only=True)
        assert data["weights"].shape == (2_000_000,)
        assert bool((data["weights"] == data["step"]).all())  # all of one write, none of another
        steps.append(data["step"])
    assert max(steps) > 1  # the writer really rewrote the file


def test_failed_write_keeps_previous_checkpoint_and_no_temp_file(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    assert (path.stat().st_mode & 0o777) != 0o600  # not mkstemp's private mode
    with pytest.raises((pickle.PicklingError, AttributeError)):  # which one depends on the object
        io.save_checkpoint({"step": 2, "w": lambda: None}, path)  # torch.save cannot pickle a lambda
    assert torch.load(path, weights_only=True)["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_atomic_save_replaces_in_one_step(tmp_path):
    path = tmp_path / "model.pt"
    atomic_save({"a": torch.zeros(1)}, path)
    inode = path.stat().st_ino
    atomic_save({"a": torch.ones(1)}, path)
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert torch.load(path, weights_only=True)["a"].item() == 1.0
