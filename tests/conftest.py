"""Shared fixtures: a tokenizer trained on a slice of the real Multi30k, and tiny models."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import torch

from s2s.data.text.tokenizer import Tokenizer
from s2s.model.config import ModelConfig
from s2s.model.seq2seq import Seq2Seq

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("S2S_SHARED_DATA", ROOT.parent / "shared" / "data"))
MULTI30K = SHARED_DATA / "multi30k"


def require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared corpus not found at {path} (set S2S_SHARED_DATA)")
    return path


def multi30k_lines(split: str, lang: str, limit: int) -> list[str]:
    path = require_shared(MULTI30K) / f"{split}.{lang}.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).strip() for _ in range(limit)]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory) -> Tokenizer:
    """A 500-piece joint en/de SentencePiece model trained on 3,000 Multi30k pairs."""
    sentences = multi30k_lines("train", "en", 3000) + multi30k_lines("train", "de", 3000)
    out = tmp_path_factory.mktemp("spm") / "spm"
    return Tokenizer.train(sentences, out, vocab_size=500)


def tiny_config(vocab_size: int = 500, **overrides) -> ModelConfig:
    values = dict(
        vocab_size=vocab_size,
        pad_id=0,
        d_model=32,
        num_heads=4,
        encoder_layers=2,
        decoder_layers=2,
        ffn_dim=64,
        dropout=0.0,
        max_positions=128,
    )
    values.update(overrides)
    return ModelConfig(**values)


@pytest.fixture
def tiny_model() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(tiny_config()).eval()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from a second thread, and OpenMP barriers stall on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
