"""Data parallel training through the real CLI: trainer=ddp on two CPU processes (gloo), and two
torchrun processes on localhost acting as two nodes (trainer.num_nodes=2).

The corpus is a copy task (target = source) over a small vocabulary: a tiny model learns it to a
high BLEU in a couple of hundred steps, so one-process and two-process BLEU can be compared on
something other than noise around zero.
"""

from __future__ import annotations

import csv
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.data.text.tokenizer import Tokenizer
from tests.reliability.helpers import ROOT, cli_env

WORDS = (
    "red blue green dog cat bird man woman child runs walks jumps sits on under near the a big small old "
    "young ball street park tree house car water"
).split()


def copy_corpus(folder: Path, *, train: int = 2000, valid: int = 100, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sentences = {
        split: [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]
        for split, n in (("train", train), ("valid", valid), ("test", 20))
    }
    for split, lines in sentences.items():
        for lang in ("en", "de"):
            (folder / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Tokenizer.train(sentences["train"], folder / "spm", vocab_size=80, languages=("en", "de"))
    return folder


def train_args(data: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "experiment=smoke",
        "logger=csv",
        f"data.data_dir={data}",
        f"hydra.run.dir={run_dir}",
        "data.train_max_sentences=null",
        "data.valid_max_sentences=null",
        "optim.lr=3e-3",
        "optim.warmup_steps=50",
        "model.dropout=0.0",
        "trainer.val_check_interval=100",
        "trainer.log_every_n_steps=10",
        "test_after_training=false",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


def final_bleu(run_dir: Path) -> float:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row.get("val/bleu")]
    return float(rows[-1]["val/bleu"])


def run(command: list[str], env: dict[str, str] | None = None, timeout: int = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env or cli_env(), cwd=ROOT, capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_cpu_processes_match_one_process_bleu(tmp_path):
    """Two gloo ranks with half the token budget each against one process with the whole budget."""
    data = copy_corpus(tmp_path / "data")
    steps = "trainer.max_steps=300"
    single = tmp_path / "single"
    run([sys.executable, "-m", "s2s.cli.main", "train", *train_args(data, single, steps, "data.max_tokens=1024")])
    ddp = tmp_path / "ddp"
    result = run(
        [
            sys.executable,
            "-m",
            "s2s.cli.main",
            "train",
            *train_args(data, ddp, steps, "data.max_tokens=512", "trainer=ddp", "trainer.devices=2"),
        ]
    )
    log = result.stderr.decode()
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log
    bleu_single, bleu_ddp = final_bleu(single), final_bleu(ddp)
    print(f"validation BLEU after 300 steps: one process {bleu_single:.2f}, DDP 2 processes {bleu_ddp:.2f}")
    assert bleu_single > 50 and bleu_ddp > 50  # both really learned the task
    assert abs(bleu_single - bleu_ddp) < 10
    assert load_checkpoint(ddp / "model.pt").info.config["trainer"]["devices"] == 2
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir() if not p.name.startswith(".")) == sorted(
        p.name for p in (single / "checkpoints").iterdir() if not p.name.startswith(".")
    )


@pytest.mark.slow
def test_two_torchrun_processes_as_two_nodes(tmp_path):
    """`torchrun --nnodes 2` twice on localhost: the recipe of docs/guides/scaling.md, each node its own run dir."""
    data = copy_corpus(tmp_path / "data", train=600, valid=40)
    port = free_port()
    env = dict(cli_env(), OMP_NUM_THREADS="1")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    nodes = []
    for rank in (0, 1):
        command = [
            torchrun,
            "--nnodes=2",
            "--nproc-per-node=1",
            f"--node-rank={rank}",
            "--master-addr=127.0.0.1",
            f"--master-port={port}",
            "-m",
            "s2s.cli.train",
            *train_args(
                data,
                tmp_path / f"node{rank}",
                "trainer.max_steps=30",
                "trainer=ddp",
                "trainer.devices=1",
                "trainer.num_nodes=2",
                "trainer.val_check_interval=15",
                "data.max_tokens=512",
                "checkpoint.every_n_train_steps=10",
            ),
        ]
        nodes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [node.communicate(timeout=1200)[0].decode() for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-4000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in outputs[0] and "GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    # Rank 0 writes the checkpoints and the export; node 1 writes none.
    assert (tmp_path / "node0" / "checkpoints" / "last.ckpt").is_file() and (tmp_path / "node0" / "model.pt").is_file()
    assert not (tmp_path / "node1" / "checkpoints").exists() and not (tmp_path / "node1" / "model.pt").exists()
    last = torch.load(tmp_path / "node0" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 30
