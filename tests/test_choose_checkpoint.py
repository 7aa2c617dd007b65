"""tools/choose_checkpoint.py: which candidate validation picks (the CLI run is in tests/e2e)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import choose_checkpoint  # noqa: E402


def test_the_best_mean_bleu_over_the_sets_wins_not_the_best_single_set():
    valid = {"model": [{"bleu": 40.0}, {"bleu": 20.0}], "avg5": [{"bleu": 35.0}, {"bleu": 27.0}]}
    winner, metric, means = choose_checkpoint.choose(valid)
    assert (winner, metric) == ("avg5", "bleu")
    assert means == {"model": 30.0, "avg5": 31.0}


def test_speech_recognition_is_chosen_by_the_lowest_wer():
    valid = {"model": [{"wer": 21.0, "cer": 9.0, "bleu": 50.0}], "avg10": [{"wer": 15.4, "cer": 8.0, "bleu": 40.0}]}
    assert choose_checkpoint.choose(valid)[:2] == ("avg10", "wer")


def test_sets_scored_by_different_metrics_are_refused():
    with pytest.raises(SystemExit, match="different metrics"):
        choose_checkpoint.choose({"model": [{"bleu": 30.0}, {"wer": 20.0}]})
