"""Training precision: bf16 on a CPU without native bf16 falls back to fp32, and says so."""

from __future__ import annotations

import pytest
import torch

from s2s.training import precision
from s2s.training.precision import training_precision


@pytest.fixture
def slow_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)


@pytest.fixture
def fast_bf16(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)


@pytest.mark.parametrize("asked", ["bf16-mixed", "bf16-true", "bf16"])
def test_bf16_on_a_cpu_without_native_bf16_trains_in_fp32_with_a_note(slow_bf16, asked):
    used, note = training_precision(asked, "cpu", fallback=True)
    assert used == "32-true"
    assert f"trainer.precision={asked} -> 32-true" in note and "cpu_bf16_fallback=false" in note


def test_bf16_is_kept_where_the_cpu_runs_it_natively(fast_bf16):
    assert training_precision("bf16-mixed", "cpu", fallback=True) == ("bf16-mixed", None)


def test_the_fallback_can_be_turned_off(slow_bf16):
    assert training_precision("bf16-mixed", "cpu", fallback=False) == ("bf16-mixed", None)


@pytest.mark.parametrize("asked", ["32-true", 32, "16-mixed", "64-true"])
def test_other_precisions_are_kept(slow_bf16, asked):
    assert training_precision(asked, "cpu", fallback=True) == (asked, None)


def test_gpus_keep_bf16(slow_bf16, monkeypatch):
    assert training_precision("bf16-mixed", "gpu", fallback=True) == ("bf16-mixed", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert training_precision("bf16-mixed", "auto", fallback=True) == ("bf16-mixed", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_precision("bf16-mixed", "auto", fallback=True)[0] == "32-true"


def test_the_reason_names_the_cpu_capability():
    assert torch.backends.cpu.get_cpu_capability() in precision.slow_bf16_reason()
