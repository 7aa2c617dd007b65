"""The decoding options reach the model through ``s2s translate`` (one output line per input line)."""

from __future__ import annotations

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.cli import common
from s2s.cli.main import main
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import multi30k_lines, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tokenizer, tmp_path_factory):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size)).eval()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="translation"), path)
    return path


def translate(checkpoint, tmp_path, lines, *flags) -> list[str]:
    source, out = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    main(["translate", str(checkpoint), "-i", str(source), "-o", str(out), "--max-len-b", "8", *flags])
    return out.read_text(encoding="utf-8").splitlines()


def test_sampling_options_are_reproducible(checkpoint, tmp_path):
    lines = multi30k_lines("val", "en", 6)
    flags = ["--sample", "--seed", "3", "--temperature", "1.3", "--top-k", "20", "--top-p", "0.9"]
    first = translate(checkpoint, tmp_path, lines, *flags)
    assert len(first) == 6 and first == translate(checkpoint, tmp_path, lines, *flags)
    assert first != translate(checkpoint, tmp_path, lines, *flags[:-7], "4")  # another seed


def test_search_options_prefix_nbest_dtype_and_workers(checkpoint, tmp_path):
    lines = multi30k_lines("val", "en", 5)
    out = translate(
        checkpoint,
        tmp_path,
        lines,
        "--beam",
        "4",
        "--nbest",
        "2",
        "--min-len",
        "3",
        "--no-repeat-ngram",
        "2",
        "--length-penalty",
        "0.8",
        "--length-penalty-style",
        "gnmt",
        "--prefix",
        "Ein Mann",
        "--workers",
        "2",
        "--dtype",
        "bf16",
    )
    assert len(out) == 5
    for line in out:
        first, score1, second, score2 = line.split("\t")
        assert first.startswith("Ein Mann") and second.startswith("Ein Mann")
        assert float(score1) >= float(score2)


@pytest.mark.parametrize("fast", [True, False])
def test_bf16_decoding_warns_on_a_cpu_without_native_bf16(checkpoint, tmp_path, capsys, monkeypatch, fast):
    monkeypatch.setattr(common, "cpu_has_fast_bf16", lambda: fast)
    assert len(translate(checkpoint, tmp_path, ["A dog runs."], "--dtype", "bf16")) == 1
    assert ("warning: --dtype bf16: this CPU has no native bf16" in capsys.readouterr().err) == (not fast)


def test_bad_decoding_option_is_one_line(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        translate(checkpoint, tmp_path, ["a"], "--beam", "3", "--sample")
    assert "sampling is done with beam_size 1" in capsys.readouterr().err
