"""tools/recipe_sweep.py: variant parsing, the train command it builds, the comparison table."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import recipe_sweep  # noqa: E402


def write_metrics(path: Path, rows: list[tuple[int, float | None, float | None]], score: str = "val/bleu") -> None:
    """rows: (step, score, val/loss); None leaves the cell empty (a training-loss row)."""
    path.parent.mkdir(parents=True)
    lines = [f"epoch,step,train/loss,{score},val/loss"]
    for step, bleu, loss in rows:
        lines.append(f"0,{step},{'' if bleu else 2.5},{'' if bleu is None else bleu},{'' if loss is None else loss}")
    path.write_text("\n".join(lines) + "\n")


def test_parse_variant_splits_name_cost_and_overrides():
    assert recipe_sweep.parse_variant("base=") == recipe_sweep.Variant("base", [], 1.0)
    assert recipe_sweep.parse_variant("postln=model.norm_first=false optim.lr=2e-3") == recipe_sweep.Variant(
        "postln", ["model.norm_first=false", "optim.lr=2e-3"], 1.0
    )
    assert recipe_sweep.parse_variant("d192@1.36=model.d_model=192").cost == 1.36
    with pytest.raises(SystemExit, match="NAME"):
        recipe_sweep.parse_variant("model.norm_first")
    for bad in ("x@=a=1", "x@0=a=1", "x@fast=a=1"):
        with pytest.raises(SystemExit, match="COST"):
            recipe_sweep.parse_variant(bad)


def test_train_command_fixes_steps_logger_and_run_dir(tmp_path):
    variant = recipe_sweep.Variant("lr", ["optim.lr=1e-3"])
    command = recipe_sweep.train_command(tmp_path, variant, ["experiment=demo"], 300)
    assert command[:6] == [*recipe_sweep.S2S, "train", "experiment=demo", "optim.lr=1e-3"]
    assert "trainer.max_steps=300" in command and "logger=csv" in command and "trainer.max_time=null" in command
    assert command[-1] == f"hydra.run.dir={tmp_path / 'lr'}"
    assert not any(
        arg.startswith("trainer.max_steps") for arg in recipe_sweep.train_command(tmp_path, variant, [], None)
    )


def test_equal_time_divides_the_minutes_by_each_variants_cost(tmp_path):
    base = recipe_sweep.train_command(tmp_path, recipe_sweep.Variant("base", []), [], None, minutes=7.5)
    wide = recipe_sweep.train_command(tmp_path, recipe_sweep.Variant("wide", [], 1.5), [], None, minutes=7.5)
    assert "optim.schedule=cosine_time" in base and "trainer.max_time=00:00:07:30" in base
    assert "trainer.max_time=00:00:05:00" in wide
    assert not any(arg.startswith("trainer.max_steps") for arg in base)
    assert recipe_sweep.time_limit(125) == "00:02:05:00"


def test_final_table_reports_updates_and_scores_of_each_variant(tmp_path):
    write_metrics(tmp_path / "a" / "csv" / "metrics.csv", [(10, None, None), (100, 20.0, 2.0), (130, None, None)])
    (tmp_path / "a.eval.json").write_text('{"bleu": 40.24, "chrf": 63.31, "ter": 45.6, "sentences": 1014}')
    (tmp_path / "b.eval.json").write_text("")  # the evaluation failed: its error is in b.eval.json.err
    table = recipe_sweep.final_table(tmp_path, [recipe_sweep.Variant("a", []), recipe_sweep.Variant("b", [], 2.0)])
    assert table[3] == "| a | 1 | 130 | bleu 40.24, chrf 63.31 |"
    assert table[4].startswith("| b | 2 | 0 | (no scores: see b.eval.json.err)")


def test_run_all_keeps_standard_error_apart_when_asked(tmp_path):
    script = "import sys; print('{}'); print('warning', file=sys.stderr)"
    recipe_sweep.run_all({"a": [sys.executable, "-c", script]}, {"a": tmp_path / "a.json"}, 1, None, errors_apart=True)
    assert (tmp_path / "a.json").read_text() == "{}\n"
    assert (tmp_path / "a.json.err").read_text() == "warning\n"


def test_table_compares_only_steps_every_variant_reached(tmp_path):
    write_metrics(
        tmp_path / "a" / "csv" / "metrics.csv", [(10, None, None), (100, 20.0, 2.0), (200, 25.0, 1.8), (300, 27.0, 1.7)]
    )
    write_metrics(tmp_path / "b" / "csv" / "metrics.csv", [(100, 22.5, 1.9), (200, 24.0, 1.85)])  # stopped early
    table = recipe_sweep.validation_table(tmp_path, ["a", "b"])
    assert table[0].startswith("validation BLEU / loss") and table[1] == "| step | a | b |"
    assert table[3:] == ["| 100 | 20.00 / 2.000 | **22.50 / 1.900** |", "| 200 | **25.00 / 1.800** | 24.00 / 1.850 |"]


def test_table_says_when_a_variant_has_no_validation(tmp_path):
    write_metrics(tmp_path / "a" / "csv" / "metrics.csv", [(100, 20.0, 2.0)])
    assert "no validation step" in recipe_sweep.validation_table(tmp_path, ["a", "missing"])[-1]


def test_speech_recognition_variants_compare_by_wer_lowest_best(tmp_path):
    write_metrics(tmp_path / "a" / "csv" / "metrics.csv", [(100, 40.0, 1.5)], score="val/wer")
    write_metrics(tmp_path / "b" / "csv" / "metrics.csv", [(100, 35.0, 1.6)], score="val/wer")
    table = recipe_sweep.validation_table(tmp_path, ["a", "b"])
    assert table[0].startswith("validation WER / loss")
    assert table[3:] == ["| 100 | 40.00 / 1.500 | **35.00 / 1.600** |"]
