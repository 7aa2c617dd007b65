"""Many files: windows of all files decoded in batches, --workers, and the progress line's figures."""

from __future__ import annotations

import json

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.cli.main import main
from s2s.cli.transcribe import throughput
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config
from tests.speech_helpers import FSDD, require_shared


def test_throughput_reads_hours_of_audio_and_real_time_factor():
    assert throughput(5400.0, 270.0) == "1.50 h of audio, RTF 0.050"
    assert throughput(0.0, 1.0).startswith("0.00 h of audio")  # before the first file: no division by zero


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, encoder="audio", conv_channels=8, ctc=True, max_positions=512))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr", task_tag="transcribe", tgt_langs=("en",)), path)
    return path


def test_many_real_files_in_batches_with_workers_give_the_same_output(checkpoint, capsys):
    files = sorted(str(p) for p in require_shared(FSDD).glob("7_*_1?.wav"))[:20]
    outputs = []
    for workers in ("1", "2"):
        capsys.readouterr()
        main(
            [
                "transcribe",
                str(checkpoint),
                *files,
                "--format",
                "json",
                "--beam",
                "2",
                "--max-len-b",
                "4",
                "--workers",
                workers,
                "--word-timestamps",
            ]
        )
        outputs.append([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    assert [o["file"] for o in outputs[0]] == files  # in order, every one
    assert outputs[0] == outputs[1]
