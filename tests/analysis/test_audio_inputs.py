"""`s2s analyze` on a speech model: audio files in, source positions labelled by time."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("s2s.data.speech.dataset", reason="the speech path is not installed")

import soundfile as sf  # noqa: E402

from s2s.checkpoint import export_checkpoint  # noqa: E402
from s2s.cli.main import main  # noqa: E402
from s2s.model.config import ModelConfig  # noqa: E402
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq  # noqa: E402

INFO = CheckpointInfo(task="asr", task_tag="transcribe", src_lang="en", tgt_langs=("en",))


def test_analyze_audio_files(tokenizer, tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        pad_id=0,
        d_model=32,
        num_heads=2,
        encoder_layers=2,
        decoder_layers=1,
        ffn_dim=64,
        dropout=0.0,
        max_positions=128,
        encoder="audio",
        conv_channels=8,
        subsampling=4,
    )
    checkpoint = tmp_path / "asr.pt"
    export_checkpoint(Seq2Seq(config).eval(), tokenizer, INFO, checkpoint)
    paths = []
    for i, (seconds, rate) in enumerate([(1.0, 16_000), (0.6, 8_000)]):
        t = np.arange(int(seconds * rate)) / rate
        path = tmp_path / f"tone{i}.wav"
        sf.write(str(path), (0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t)).astype(np.float32), rate)
        paths.append(str(path))
    out = tmp_path / "report"
    main(
        [
            "analyze",
            str(checkpoint),
            "-i",
            *paths,
            "--out",
            str(out),
            "--examples",
            "2",
            "--max-len-a",
            "0",
            "--max-len-b",
            "4",
        ]
    )
    text = (out / "analysis.md").read_text(encoding="utf-8")
    heads = json.loads((out / "heads.json").read_text(encoding="utf-8"))["heads"]
    assert len(heads) == 2 * 2 + 1 * 2 + 1 * 2
    assert text.count("Example Sentences:") == len(heads)
    encoder = [h for h in heads if h["attention"] == "encoder"]
    # frames have no words, punctuation or EOS: those measures do not apply to the audio side
    assert all(not {"same_word", "punctuation", "eos"} & set(h["measures"]) for h in encoder)
    assert {"previous", "first", "entropy"} <= set(encoder[0]["measures"])
    assert all(
        h["pattern"] == "broad" or ("frame" in h["description"] and "token" not in h["description"]) for h in encoder
    )
    assert {e["source"] for h in encoder for e in h["examples"]} == {"tone0.wav", "tone1.wav"}
    cross = [h for h in heads if h["attention"] == "cross"]
    assert all("monotonic" in h["measures"] and "eos" not in h["measures"] for h in cross)
    assert all((out / e["heatmap"]).is_file() for h in heads for e in h["examples"])
