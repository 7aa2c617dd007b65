"""Fixtures for the reliability tests: a small prepared corpus and a tiny checkpoint."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.data.text.tokenizer import Tokenizer
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.reliability.helpers import ROOT

MULTI30K = Path(os.environ.get("S2S_SHARED_DATA", ROOT.parent / "shared" / "data")) / "multi30k"
SPLITS = {"train": ("train", 300), "valid": ("val", 24), "test": ("test_2016_flickr", 12)}


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
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        d_model=32,
        num_heads=4,
        encoder_layers=1,
        decoder_layers=1,
        ffn_dim=64,
        dropout=0.0,
        max_positions=64,
    )
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    info = CheckpointInfo(task="translation", src_lang="en", tgt_langs=("de",))
    export_checkpoint(Seq2Seq(config), tokenizer, info, path)
    return path
