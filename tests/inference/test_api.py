"""``s2s.load``: the Python API decodes as the commands do, with the same layering of defaults."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
import torch

import s2s
from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.cli.main import main
from s2s.inference.decoding_defaults import layered_options
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import multi30k_lines, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def text_checkpoint(tokenizer, tmp_path_factory):
    """An untrained model whose checkpoint asks for beam 3 and a length bound of its own."""
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size)).eval()
    path = tmp_path_factory.mktemp("api") / "text.pt"
    own = {"beam_size": 3, "max_len_a": 0.0, "max_len_b": 6, "nbest": 1, "sampling": False}
    export_checkpoint(model, tokenizer, CheckpointInfo(task="translation", default_decoding=own), path)
    return path


@pytest.fixture(scope="module")
def speech_checkpoint(tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, encoder="audio", conv_channels=8, ctc=True, max_positions=512))
    path = tmp_path_factory.mktemp("api") / "speech.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr", task_tag="transcribe", tgt_langs=("en",)), path)
    return path


def test_translate_equals_the_command_line(text_checkpoint, tmp_path):
    lines = multi30k_lines("test_2016_flickr", "en", 6)
    source, out = tmp_path / "in.en", tmp_path / "out.de"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for flags, kwargs in (
        ([], {}),
        (["--beam", "1"], {"beam": 1}),
        (["--length-penalty", "0.5"], {"length_penalty": 0.5}),
    ):
        main(["translate", str(text_checkpoint), "-i", str(source), "-o", str(out), *flags])
        assert s2s.load(text_checkpoint).translate(lines, **kwargs) == out.read_text(encoding="utf-8").splitlines()


def test_defaults_are_the_checkpoints_then_the_built_in_ones(text_checkpoint, speech_checkpoint):
    text, speech = s2s.load(text_checkpoint), s2s.load(speech_checkpoint)
    own = text.options()
    assert (own.beam_size, own.max_len_a, own.max_len_b) == (3, 0.0, 6)  # the checkpoint's
    assert text.options(beam=7).beam_size == 7 and text.options(beam=7).max_len_b == 6  # one field overridden
    assert text.options(sampling=True).beam_size == 1  # sampling decodes one row unless told otherwise
    built_in = speech.options()  # this checkpoint names no decoding: beam 5, speech lengths, CTC 0.3 (it has a head)
    assert (built_in.beam_size, built_in.max_len_a, built_in.max_len_b, built_in.ctc_weight) == (5, 0.5, 5, 0.3)
    assert layered_options(load_checkpoint(text_checkpoint), {}).ctc_weight == 0.0  # no CTC head, no CTC weight
    with pytest.raises(ValueError, match="no CTC head"):
        text.options(ctc_weight=0.3)


def test_transcribe_reads_files_and_reports_the_bad_ones(speech_checkpoint, tmp_path):
    wav = tmp_path / "tone.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(16000) * 0.05)).astype(np.float32), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF0000WAVEnot audio")
    model = s2s.load(speech_checkpoint)
    good, bad = model.transcribe([wav, broken], beam=2, max_len_b=3)
    assert good.error is None and good.duration == pytest.approx(1.0) and good.path == str(wav)
    assert bad.error and bad.path == str(broken)
    assert [t.text for t in model.transcribe([wav], beam=2, max_len_b=3)] == [good.text]


def test_the_wrong_kind_of_input_or_model_is_one_clear_error(text_checkpoint, speech_checkpoint):
    with pytest.raises(TypeError, match="list of texts"):
        s2s.load(text_checkpoint).translate("A man.")
    with pytest.raises(ValueError, match="speech model"):
        s2s.load(speech_checkpoint).translate(["A man."])
    with pytest.raises(ValueError, match="text model"):
        s2s.load(text_checkpoint).transcribe(["a.wav"])
    with pytest.raises(ValueError, match="dtype"):
        s2s.load(text_checkpoint, dtype="fp16")


def test_info_is_a_frozen_record(text_checkpoint):
    info = s2s.load(text_checkpoint).info
    assert info.languages == (None,) and info.default_decoding["beam_size"] == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.task = "asr"
