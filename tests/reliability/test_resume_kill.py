"""Kill -9 a training run, resume it with ``resume=last``: the losses match an uninterrupted run step for step."""

from __future__ import annotations

import csv
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.reliability.helpers import ROOT, cli_env

MAX_STEPS = 30


def train_command(corpus_dir: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "s2s.cli.main",
        "train",
        "experiment=smoke",
        "logger=csv",
        f"data.data_dir={corpus_dir}",
        f"hydra.run.dir={run_dir}",
        "data.max_tokens=1024",
        "data.valid_max_sentences=24",
        f"trainer.max_steps={MAX_STEPS}",
        "trainer.val_check_interval=10",
        "trainer.log_every_n_steps=1",
        "checkpoint.every_n_train_steps=3",
        "test_after_training=false",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=cli_env(), cwd=ROOT, capture_output=True, timeout=900)
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    return result


def metric_by_step(run_dir: Path, name: str) -> dict[int, float]:
    values = {}
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get(name):
                values[int(row["step"])] = float(row[name])
    return values


def saved_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


@pytest.mark.slow
def test_sigkill_then_resume_last_matches_uninterrupted_run(corpus_dir, tmp_path):
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    run(train_command(corpus_dir, reference_dir))
    reference = metric_by_step(reference_dir, "train/loss")
    assert len(reference) >= MAX_STEPS - 1

    # Start the same run again and SIGKILL it at a random moment once it has checkpointed past step 10.
    last = crashed_dir / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(
        train_command(corpus_dir, crashed_dir),
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if last.is_file() and saved_step(last) >= 11:
            break
        time.sleep(0.2)
    time.sleep(random.uniform(0.0, 1.0))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = saved_step(last)  # whatever the kill interrupted, last.ckpt is whole and loadable
    assert 11 <= killed_at < MAX_STEPS

    resumed = run(train_command(corpus_dir, crashed_dir, "resume=last"))
    assert b"Restoring states from the checkpoint" in resumed.stderr + resumed.stdout
    losses = metric_by_step(crashed_dir, "train/loss")
    compared = [step for step in reference if step > killed_at]
    assert compared and all(step in losses for step in compared)
    for step in compared:
        assert losses[step] == pytest.approx(reference[step], rel=1e-5, abs=1e-6), (step, killed_at)
    # Validation after the resume (greedy decoding of the same weights) agrees too.
    bleu_ref, bleu = metric_by_step(reference_dir, "val/bleu"), metric_by_step(crashed_dir, "val/bleu")
    for step in (s for s in bleu_ref if s > killed_at):
        assert bleu[step] == pytest.approx(bleu_ref[step], abs=1e-6)
    assert saved_step(last) == MAX_STEPS
    print(
        f"killed with last.ckpt at step {killed_at}; resumed losses equal the uninterrupted run's at steps "
        f"{compared[0]}..{compared[-1]}; max |difference| "
        f"{max(abs(losses[s] - reference[s]) for s in compared):.2e}"
    )
