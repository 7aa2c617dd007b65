"""Transcriber: windows over long audio, merging their texts, odd formats and bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.cli.main import main
from s2s.data.speech.audio import SAMPLE_RATE
from s2s.decoding import DecodingOptions
from s2s.inference.transcriber import Transcriber
from s2s.inference.windows import merge_texts, windows
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config
from tests.speech_helpers import FSDD, write_odd_files


def test_windows_cover_the_audio_with_overlap():
    assert windows(5 * SAMPLE_RATE, 20.0, 2.0) == [(0, 5 * SAMPLE_RATE)]
    spans = windows(600 * SAMPLE_RATE, 20.0, 2.0)
    assert spans[0] == (0, 20 * SAMPLE_RATE) and spans[-1][1] == 600 * SAMPLE_RATE
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert e1 - s2 == 2 * SAMPLE_RATE or e2 == 600 * SAMPLE_RATE  # consecutive windows share 2 s
        assert s2 > s1
    assert len(spans) == 34  # ceil((600 - 20) / 18) + 1


def test_merge_drops_words_heard_twice():
    assert merge_texts(["the cat sat on", "sat on the mat", "mat and"]) == ["the cat sat on", "the mat", "and"]
    assert merge_texts(["a b", "c d"]) == ["a b", "c d"]
    assert merge_texts(["", "x"]) == ["", "x"]


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory, tokenizer):
    """An untrained tiny speech model: enough to exercise reading, windowing and output formats."""
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, encoder="audio", conv_channels=8, ctc=True, max_positions=512))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr", task_tag="transcribe", tgt_langs=("en",)), path)
    return path


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory):
    files = write_odd_files(tmp_path_factory.mktemp("odd"))
    long_path = files["stereo8k"].parent / "ten_minutes.flac"
    speech, rate = sf.read(str(FSDD / "5_theo_30.wav"), dtype="float32")
    gap = np.zeros(int(0.7 * rate), dtype=np.float32)
    one = np.concatenate([speech, gap])
    sf.write(str(long_path), np.tile(one, int(600 * rate / len(one)) + 1)[: 600 * rate], rate)
    files["long"] = long_path
    return files


def test_ten_minute_file_is_transcribed_in_windows(random_checkpoint, odd_files):
    loaded = load_checkpoint(random_checkpoint)
    options = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=3)
    transcriber = Transcriber(loaded, options=options, window=20.0, overlap=2.0, vad=False)
    (result,) = transcriber.transcribe_files([odd_files["long"]])
    assert result.error is None and result.duration == 600.0
    assert len(result.segments) == 34
    starts = [s.start for s in result.segments]
    assert starts == sorted(starts) and result.segments[0].start == 0.0 and result.segments[-1].end == 600.0
    for a, b in zip(result.segments, result.segments[1:]):
        assert a.end == b.start  # cues meet halfway through the shared second
    with pytest.raises(ValueError, match="exceeds what this model can encode"):
        Transcriber(loaded, options=options, window=30.0)  # 512 positions x 4 frames = 20.5 s


def test_cli_formats_and_bad_files(random_checkpoint, odd_files, capsys, tmp_path):
    files = [str(odd_files[k]) for k in ("stereo8k", "corrupt", "flac44k", "empty", "text")]
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", str(random_checkpoint), *files, "--format", "json", "--beam", "2", "--max-len-b", "3"])
    assert exit_info.value.code != 0
    out, err = capsys.readouterr()
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["file"] for o in objects] == [files[0], files[2]]  # the good files, in order
    assert objects[0]["duration"] == pytest.approx(sf.info(files[0]).duration, abs=0.01)
    assert objects[1]["segments"][0]["end"] == pytest.approx(1.2, abs=0.01)
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 4  # corrupt, empty, not audio, and the summary
    assert "corrupt.wav: not a readable audio file" in err and "empty.wav: the file holds no audio" in err
    assert "3 of 5 file(s) could not be transcribed" in errors[-1]
    assert "Traceback" not in err

    main(["transcribe", str(random_checkpoint), files[0], "--format", "srt", "-o", str(tmp_path), "--max-len-b", "3"])
    srt = (tmp_path / "stereo8k.wav.srt").read_text()
    assert srt == "" or srt.startswith("1\n00:00:00,000 --> 00:00:0")
