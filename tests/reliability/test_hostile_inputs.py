"""Hostile input for translate, evaluate, analyze, prepare and train: one clear line, the right exit, nothing lost.

Each test here backs a row of the table in docs/guides/reliability.md. Most run the CLI's ``main`` in
this process (same code path, no interpreter start-up); a few run it as a subprocess to check
the real exit status and that no traceback reaches the terminal.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import sys
from pathlib import Path

import pytest
import torch

from s2s.cli.main import main
from tests.reliability.helpers import error_lines, run_cli

FAST = ["--beam", "1", "--max-len-a", "0", "--max-len-b", "2"]  # tiny outputs: these tests are about input


def cli(capsys, monkeypatch, *args: str, stdin: bytes = b"") -> tuple[int, str, list[str]]:
    """Run ``s2s ARGS`` in-process: (exit status, stdout, non-empty stderr lines)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def only_error(err: list[str], *fragments: str) -> None:
    assert len(err) == 1 and err[0].startswith("s2s: error: "), err
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])


# ----- translate: the text itself --------------------------------------------------------------------


def test_translate_empty_input_gives_empty_output(capsys, monkeypatch, tiny_checkpoint):
    code, out, err = cli(capsys, monkeypatch, "translate", str(tiny_checkpoint), *FAST, stdin=b"")
    assert (code, out, err) == (0, "", [])


def test_translate_blank_lines_stay_blank_and_aligned(capsys, monkeypatch, tiny_checkpoint):
    code, out, err = cli(
        capsys, monkeypatch, "translate", str(tiny_checkpoint), *FAST, stdin=b"a dog runs\n\n   \n\t\na man\n"
    )
    lines = out.split("\n")
    assert code == 0 and err == [] and len(lines) == 6 and lines[-1] == ""
    assert lines[1:4] == ["", "", ""] and lines[0] and lines[4]


def test_translate_invalid_utf8_is_replaced_with_a_warning(capsys, monkeypatch, tiny_checkpoint):
    code, out, err = cli(
        capsys, monkeypatch, "translate", str(tiny_checkpoint), *FAST, stdin=b"a dog\n\xff\xfe\xc3( runs\nfine\n"
    )
    assert code == 0 and out.count("\n") == 3
    assert err == ["warning: stdin line 2: invalid UTF-8 replaced with U+FFFD"]


def test_translate_control_characters_never_split_or_merge_lines(capsys, monkeypatch, tiny_checkpoint):
    # NUL, ESC, form feed, vertical tab, U+0085, U+2028/2029, a lone CR: one output line per "\n".
    text = "a\x00b\x1b[31mc\n\x0c\x0bdog\r cat\n\u0085x\u2028y\u2029z\n".encode()
    code, out, err = cli(capsys, monkeypatch, "translate", str(tiny_checkpoint), *FAST, stdin=text)
    assert code == 0 and err == [] and out.count("\n") == 3


def test_translate_100k_character_line_is_truncated_with_a_warning(capsys, monkeypatch, tiny_checkpoint):
    line = ("a dog runs " * 10_000)[:100_000]
    code, out, err = cli(
        capsys, monkeypatch, "translate", str(tiny_checkpoint), *FAST, stdin=f"short\n{line}\nshort\n".encode()
    )
    assert code == 0 and out.count("\n") == 3
    assert len(err) == 1 and err[0].startswith("warning: line 2:") and "truncated to the model's limit" in err[0]


# ----- checkpoints: translate and evaluate share the loader ------------------------------------------


def bad_checkpoints(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    data = good.read_bytes()
    cases = {
        "truncated": (data[: len(data) // 3], "truncated or not a torch file"),
        "random-bytes": (os.urandom(4096), "not a readable checkpoint"),
        "empty": (b"", "not a readable checkpoint"),
        "not-s2s": (None, "not an s2s checkpoint"),
    }
    paths = {}
    for name, (content, message) in cases.items():
        path = tmp / f"{name}.pt"
        if content is None:
            torch.save({"weights": torch.zeros(2)}, path)
        else:
            path.write_bytes(content)
        paths[name] = (path, message)
    return paths


@pytest.mark.parametrize("command", ["translate", "evaluate", "analyze"])
def test_damaged_checkpoints_are_refused_in_one_line(
    capsys, monkeypatch, tmp_path, tiny_checkpoint, corpus_dir, command
):
    extra = {
        "translate": [],
        "evaluate": ["--src", str(corpus_dir / "test.en"), "--ref", str(corpus_dir / "test.de")],
        "analyze": ["-i", str(corpus_dir / "test.en"), "--out", str(tmp_path / "report")],
    }[command]
    for name, (path, message) in bad_checkpoints(tmp_path, tiny_checkpoint).items():
        code, out, err = cli(capsys, monkeypatch, command, str(path), *extra, *FAST, stdin=b"a dog\n")
        assert code == 2 and out == "", name
        only_error(err, str(path), message)


class RunsCode:
    """Unpickling this calls ``os.system``: what a hostile checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_checkpoint_whose_pickle_runs_code_is_refused_without_running_it(tmp_path, container):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    payload = {"s2s": RunsCode(marker), "state_dict": {}}
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    result = run_cli("translate", str(path), stdin=b"a dog\n")
    err = error_lines(result)
    assert result.returncode == 2 and result.stdout == b""
    only_error(err, str(path))
    assert "refusing to load" in err[0] and "posix.system" in err[0]
    assert not marker.exists(), "loading the checkpoint ran its code"


# ----- files that are missing, unreadable or not files -------------------------------------------------


def test_missing_checkpoint_real_process(tmp_path):
    result = run_cli("translate", str(tmp_path / "nope.pt"), stdin=b"")
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    only_error(error_lines(result), "checkpoint not found", "nope.pt")


def test_missing_input_directory_input_and_unwritable_output(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    ckpt = str(tiny_checkpoint)
    code, _, err = cli(capsys, monkeypatch, "translate", ckpt, "-i", str(tmp_path / "none.txt"), *FAST)
    assert code == 2
    only_error(err, "input file not found", "none.txt")
    code, _, err = cli(capsys, monkeypatch, "translate", ckpt, "-i", str(tmp_path), *FAST)
    assert code == 2
    only_error(err, "input is not a file")
    code, _, err = cli(
        capsys, monkeypatch, "translate", ckpt, "-o", str(tmp_path / "no" / "out.txt"), *FAST, stdin=b"a dog\n"
    )
    assert code == 1
    only_error(err, "out.txt", "No such file or directory")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_input(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    source = tmp_path / "secret.txt"
    source.write_text("a dog\n")
    source.chmod(0)
    code, _, err = cli(capsys, monkeypatch, "translate", str(tiny_checkpoint), "-i", str(source), *FAST)
    assert code == 1
    only_error(err, "secret.txt", "Permission denied")


def test_unreadable_reference_for_evaluate(capsys, monkeypatch, tmp_path, tiny_checkpoint, corpus_dir):
    """A reference that cannot be read (here a folder: root can read any file) is named in one line."""
    code, _, err = cli(
        capsys,
        monkeypatch,
        "evaluate",
        str(tiny_checkpoint),
        "--src",
        str(corpus_dir / "test.en"),
        "--ref",
        str(tmp_path),
        *FAST,
    )
    assert code == 2
    only_error(err, "not a file", str(tmp_path))


def test_failed_run_keeps_an_existing_output_file(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    out = tmp_path / "out.txt"
    out.write_text("yesterday's translations\n")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_checkpoint.read_bytes()[:1000])
    for args in (["translate", str(broken)], ["translate", str(tiny_checkpoint), "-i", str(tmp_path / "missing")]):
        code, _, _ = cli(capsys, monkeypatch, *args, "-o", str(out), *FAST, stdin=b"a dog\n")
        assert code == 2
        assert out.read_text() == "yesterday's translations\n"


# ----- evaluate ----------------------------------------------------------------------------------------


def test_evaluate_refuses_misaligned_corpus_naming_both_counts(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    (tmp_path / "s.en").write_text("a\nb\nc\n")
    (tmp_path / "r.de").write_text("a\nb\n")
    code, out, err = cli(
        capsys,
        monkeypatch,
        "evaluate",
        str(tiny_checkpoint),
        "--src",
        str(tmp_path / "s.en"),
        "--ref",
        str(tmp_path / "r.de"),
        *FAST,
    )
    assert code == 2 and out == ""
    only_error(err, "s.en has 3 lines", "r.de has 2")


def test_evaluate_refuses_empty_files(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    for name in ("s.en", "r.de"):
        (tmp_path / name).write_bytes(b"")
    code, _, err = cli(
        capsys,
        monkeypatch,
        "evaluate",
        str(tiny_checkpoint),
        "--src",
        str(tmp_path / "s.en"),
        "--ref",
        str(tmp_path / "r.de"),
        *FAST,
    )
    assert code == 2
    only_error(err, "no sentences")


def test_evaluate_keeps_alignment_through_blank_lines_bad_bytes_and_control_characters(
    capsys, monkeypatch, tmp_path, tiny_checkpoint
):
    # Form feed, U+2028 and U+0085 inside a line used to split it (str.splitlines) and misalign the files.
    (tmp_path / "s.en").write_bytes(b"a dog\n\nthe\x0ccat\xe2\x80\xa8runs\n\xff bad\n")
    (tmp_path / "r.de").write_bytes(b"ein Hund\n\ndie\xc2\x85Katze\nschlecht\n")
    hyp = tmp_path / "hyp.txt"
    code, out, err = cli(
        capsys,
        monkeypatch,
        "evaluate",
        str(tiny_checkpoint),
        "--src",
        str(tmp_path / "s.en"),
        "--ref",
        str(tmp_path / "r.de"),
        "--hyp-out",
        str(hyp),
        "--json",
        *FAST,
    )
    assert code == 0, err
    assert err == [f"warning: {tmp_path / 's.en'} line 4: invalid UTF-8 replaced with U+FFFD"]
    assert '"sentences": 4' in out and hyp.read_text().count("\n") == 4


def test_evaluate_checks_the_hypothesis_folder_before_translating(
    capsys, monkeypatch, tmp_path, tiny_checkpoint, corpus_dir
):
    code, _, err = cli(
        capsys,
        monkeypatch,
        "evaluate",
        str(tiny_checkpoint),
        "--src",
        str(corpus_dir / "test.en"),
        "--ref",
        str(corpus_dir / "test.de"),
        "--hyp-out",
        str(tmp_path / "no" / "h.txt"),
        *FAST,
    )
    assert code == 2
    only_error(err, "no folder")


# ----- analyze -----------------------------------------------------------------------------------------


def test_analyze_empty_input_long_line_and_misaligned_targets(capsys, monkeypatch, tmp_path, tiny_checkpoint):
    ckpt = str(tiny_checkpoint)
    (tmp_path / "empty.txt").write_text("\n  \n")
    code, _, err = cli(
        capsys, monkeypatch, "analyze", ckpt, "-i", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "r1")
    )
    assert code == 2
    only_error(err, "no input sentences")
    (tmp_path / "long.txt").write_text("a dog runs\n" + ("a dog runs " * 10_000)[:100_000] + "\n")
    code, _, err = cli(
        capsys,
        monkeypatch,
        "analyze",
        ckpt,
        "-i",
        str(tmp_path / "long.txt"),
        "--out",
        str(tmp_path / "r2"),
        "--max-len-b",
        "2",
        "--max-len-a",
        "0",
    )
    assert code == 0 and (tmp_path / "r2" / "analysis.md").is_file()
    assert any("line 2:" in line and "truncated to the model's limit" in line for line in err)
    (tmp_path / "targets.txt").write_text("ein Hund\n")
    code, _, err = cli(
        capsys,
        monkeypatch,
        "analyze",
        ckpt,
        "-i",
        str(tmp_path / "long.txt"),
        "--targets",
        str(tmp_path / "targets.txt"),
        "--out",
        str(tmp_path / "r3"),
    )
    assert code == 2
    only_error(err, "2 inputs but", "targets.txt has 1 lines")


# ----- prepare -----------------------------------------------------------------------------------------


def write_gz(folder: Path, name: str, lines: list[str] | bytes) -> None:
    data = lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode()
    with gzip.open(folder / name, "wb") as f:
        f.write(data)


def multi30k_mirror(folder: Path, train: int = 200, words: dict[str, list[str]] | None = None) -> Path:
    """Multi30k's en/de ``.gz`` files, lines drawn from ``words[lang]`` (a few lower-case words by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    default = "a man dog cat runs walks on the street with red blue ball".split()
    words = words or {"en": default, "de": default}
    for upstream, count in (("train", train), ("val", 10), ("test_2016_flickr", 10)):
        for lang, vocab in words.items():
            lines = [" ".join(vocab[(i * 7 + k) % len(vocab)] for k in range(3 + i % 5)) for i in range(count)]
            write_gz(folder, f"{upstream}.{lang}.gz", lines)
    return folder


def prepare(capsys, monkeypatch, mirror: Path, out: Path) -> tuple[int, str, list[str]]:
    return cli(
        capsys, monkeypatch, "prepare", "multi30k", "--from", str(mirror), "--out", str(out), "--vocab-size", "60"
    )


def test_prepare_missing_folder_and_missing_file(capsys, monkeypatch, tmp_path):
    code, _, err = prepare(capsys, monkeypatch, tmp_path / "nowhere", tmp_path / "out")
    assert code == 2
    only_error(err, "train.en.gz not found")
    mirror = multi30k_mirror(tmp_path / "m")
    (mirror / "val.de.gz").unlink()
    code, _, err = prepare(capsys, monkeypatch, mirror, tmp_path / "out")
    assert code == 2
    only_error(err, "val.de.gz not found")


@pytest.mark.parametrize("damage", ["random bytes", "truncated"])
def test_prepare_damaged_gzip(capsys, monkeypatch, tmp_path, damage):
    mirror = multi30k_mirror(tmp_path / "m")
    path = mirror / "train.de.gz"
    path.write_bytes(os.urandom(500) if damage == "random bytes" else path.read_bytes()[:-30])
    code, _, err = prepare(capsys, monkeypatch, mirror, tmp_path / "out")
    assert code == 2
    only_error(err, "train.de.gz is not a readable gzip file")


def test_prepare_refuses_misaligned_or_empty_corpus_before_writing(capsys, monkeypatch, tmp_path):
    mirror = multi30k_mirror(tmp_path / "m")
    write_gz(mirror, "train.de.gz", ["ein Hund"] * 199)
    out = tmp_path / "out"
    code, _, err = prepare(capsys, monkeypatch, mirror, out)
    assert code == 2
    only_error(err, "train.en.gz has 200 lines", "train.de.gz has 199")
    assert not (out / "train.en").exists() and not (out / "train.de").exists()
    write_gz(mirror, "train.en.gz", b"")
    write_gz(mirror, "train.de.gz", b"")
    code, _, err = prepare(capsys, monkeypatch, mirror, out)
    assert code == 2
    only_error(err, "train.en.gz is empty")


def test_prepare_keeps_lines_with_control_characters_and_bad_bytes(capsys, monkeypatch, tmp_path):
    mirror = multi30k_mirror(tmp_path / "m")
    lines = [f"a man {i}" for i in range(200)]
    raw = ("\n".join(lines) + "\n").encode().replace(b"a man 5\n", b"a\x0cman\xe2\x80\xa8 5\xff\n")
    write_gz(mirror, "train.en.gz", raw)
    out = tmp_path / "out"
    code, _, err = prepare(capsys, monkeypatch, mirror, out)
    assert code == 0, err
    assert any("train.en.gz line 6: invalid UTF-8" in line for line in err)
    assert len((out / "train.en").read_bytes().split(b"\n")) == 201  # 200 lines, none split or merged
    assert (out / "spm.model").is_file()


# ----- train -------------------------------------------------------------------------------------------


def test_train_refuses_misaligned_corpus_naming_both_counts(tmp_path, corpus_dir):
    data = tmp_path / "data"
    data.mkdir()
    for f in corpus_dir.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "train.de").write_text("nur eine Zeile\n")
    result = run_cli(
        "train", "experiment=smoke", "logger=none", f"data.data_dir={data}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    err = error_lines(result)
    assert err[-1].startswith("s2s train: error: ") and "has 300 lines" in err[-1] and "has 1" in err[-1]
