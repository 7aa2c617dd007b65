"""The whole speech path through the CLI on a few real AN4 recordings: prepare, train, transcribe, evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main
from s2s.data.speech.audio import FeatureStats
from s2s.data.speech.manifest import read_manifest
from tests.speech_helpers import an4_subset


def test_prepare_train_transcribe_evaluate_an4(tmp_path, capsys):
    local = an4_subset(tmp_path / "an4_local", speakers=6, per_speaker=4)
    data = tmp_path / "an4"
    main(
        [
            "prepare",
            "an4",
            "--from",
            str(local),
            "--out",
            str(data),
            "--vocab-size",
            "40",
            "--valid-speakers",
            "1",
            "--test-speakers",
            "1",
        ]
    )
    assert {p.name for p in data.iterdir()} >= {"train.tsv", "valid.tsv", "test.tsv", "spm.model", "cmvn.json"}

    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "s2s.cli.main",
        "train",
        "experiment=an4_asr",
        "model=audio_tiny",
        "model.conv_channels=8",
        "logger=none",
        f"data.data_dir={data}",
        f"hydra.run.dir={run}",
        "trainer.max_steps=4",
        "trainer.max_epochs=4",
        "trainer.check_val_every_n_epoch=2",
        "trainer.precision=32-true",
        "data.max_frames=4000",
        "data.speed_perturb=null",
        "test_decode.beam_size=2",
    ]
    env = dict(os.environ, WANDB_MODE="offline")
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "model.pt").is_file()
    loaded = load_checkpoint(run / "model.pt")
    stats = FeatureStats.load(data / "cmvn.json")  # the prepare-time statistics travel in the checkpoint
    assert torch.allclose(loaded.model.encoder.feature_mean, torch.tensor(stats.mean))
    assert loaded.info.task == "asr" and loaded.info.task_tag == "transcribe"
    assert "test test.tsv WER" in result.stderr  # the test speakers were scored after training

    files = [str(u.audio) for u in read_manifest(data / "valid.tsv")][:3]
    main(["transcribe", str(run / "model.pt"), *files, "--beam", "2", "--format", "json", "--ctc-weight", "0.3"])
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["file"] for line in lines] == files

    main(["evaluate", str(run / "model.pt"), "--manifest", str(data / "valid.tsv"), "--beam", "2", "--json"])
    scores = json.loads(capsys.readouterr().out)
    assert scores["utterances"] == 4 and scores["wer"] >= 0 and 0 <= scores["cer"]

    # joint CTC/attention search in forked worker processes (audio features pickled to them) == in one loop
    options = [
        "evaluate",
        str(run / "model.pt"),
        "--manifest",
        str(data / "valid.tsv"),
        "--beam",
        "2",
        "--ctc-weight",
        "0.3",
        "--json",
        "--hyp-out",
    ]
    main([*options, str(tmp_path / "one.txt"), "--workers", "1"])
    main([*options, str(tmp_path / "two.txt"), "--workers", "2"])
    assert (tmp_path / "two.txt").read_text() == (tmp_path / "one.txt").read_text()

    # options speech decoding has no use for are refused, not ignored
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["transcribe", str(run / "model.pt"), files[0], "--prefix", "GO"])
    assert "--prefix applies to text models only" in capsys.readouterr().err
