"""``s2s export``'s own errors: one line each, nothing written over."""

from __future__ import annotations

import pytest

from s2s.cli.main import main


def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["export", *args])
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("engine", ["onnx", "ctranslate2"])
def test_an_existing_folder_with_files_is_never_written_into(capsys, tmp_path, engine):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, error = run(capsys, engine, str(tmp_path / "model.pt"), str(out))
    assert code == 2 and error.count("\n") == 1 and "not an empty folder" in error
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_missing_checkpoint_is_one_line(capsys, tmp_path):
    code, error = run(capsys, "onnx", str(tmp_path / "nothing.pt"), str(tmp_path / "out"))
    assert code == 2 and error == f"s2s: error: checkpoint not found: {tmp_path / 'nothing.pt'}\n"
    assert not (tmp_path / "out").exists()


def test_an_unknown_engine_is_refused_by_name(capsys, tmp_path):
    code, error = run(capsys, "tensorrt", "model.pt", str(tmp_path / "out"))
    assert code == 2 and "invalid choice: 'tensorrt'" in error


def test_the_command_is_listed(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "export" in capsys.readouterr().out


def test_a_missing_exporter_package_is_named(capsys, tmp_path, monkeypatch):
    from s2s.cli import export

    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None if name == "onnxscript" else object())
    code, error = run(capsys, "onnx", str(tmp_path / "model.pt"), str(tmp_path / "out"))
    assert code == 2 and error == "s2s: error: export onnx needs onnxscript: pip install -e '.[export]'\n"
