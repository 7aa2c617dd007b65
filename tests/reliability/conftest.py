"""Fixtures for the reliability tests: a small prepared corpus, a tiny checkpoint, and the CLI in a subprocess."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.config import ModelConfig
from s2s.data.tokenizer import Tokenizer
from s2s.model import Seq2Seq

ROOT = Path(__file__).resolve().parents[2]
MULTI30K = Path(os.environ.get("S2S_SHARED_DATA", ROOT.parent / "shared" / "data")) / "multi30k"
SPLITS = {"train": ("train", 300), "valid": ("val", 24), "test": ("test_2016_flickr", 12)}


def cli_env() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout of s2s."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_cli(*args: str, stdin: bytes | None = None, timeout: float = 300, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
    """``s2s ARGS...`` in a fresh interpreter; stdout and stderr are bytes."""
    return subprocess.run([sys.executable, "-m", "s2s.cli.main", *args], input=stdin, capture_output=True,
                          env=cli_env(), timeout=timeout, cwd=cwd or ROOT)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, tokenizer: Tokenizer) -> Path:
    """``s2s prepare``'s layout: spm.model and {train,valid,test}.{en,de}, sliced from the real Multi30k."""
    if not MULTI30K.exists():
        pytest.skip(f"shared corpus not found at {MULTI30K} (set S2S_SHARED_DATA)")
    out = tmp_path_factory.mktemp("corpus")
    (out / "spm.model").write_bytes(tokenizer.model_bytes)
    for split, (upstream, count) in SPLITS.items():
        for lang in ("en", "de"):
            with gzip.open(MULTI30K / f"{upstream}.{lang}.gz", "rt", encoding="utf-8") as f:
                lines = [next(f).strip() for _ in range(count)]
            (out / f"{split}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tokenizer: Tokenizer) -> Path:
    """An untrained tiny en->de model exported as model.pt (decoding paths only need real weights' shapes)."""
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=32, num_heads=4,
                         encoder_layers=1, decoder_layers=1, ffn_dim=64, dropout=0.0, max_positions=64)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    info = {"task": "translation", "task_tag": None, "src_lang": "en", "tgt_langs": ["de"]}
    export_checkpoint(Seq2Seq(config), tokenizer, info, path)
    return path
