"""The whole translation path through the real CLI: prepare -> train -> translate -> evaluate."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s2s.checkpoint import load_checkpoint
from s2s.training.precision import cpu_has_fast_bf16
from tests.conftest import MULTI30K, require_shared


def s2s(*args: str, input: bytes | None = None, cwd: Path | None = None, check: bool = True):
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run(
        [sys.executable, "-m", "s2s.cli.main", *args], input=input, capture_output=True, cwd=cwd, env=env, timeout=600
    )
    if check and result.returncode != 0:
        raise AssertionError(f"s2s {' '.join(args)} failed:\n{result.stderr.decode()[-3000:]}")
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for 60 steps (3 epochs) on 2,000 real Multi30k pairs, with subword
    sampling: `s2s train` must give it a new loader every epoch, or the data module refuses. It keeps
    both validation rounds' checkpoints, for averaging."""
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    s2s(
        "prepare",
        "multi30k",
        "--src",
        "en",
        "--tgt",
        "de",
        "--out",
        str(data),
        "--vocab-size",
        "1000",
        "--from",
        str(require_shared(MULTI30K)),
    )
    run_dir = root / "run"
    s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=60",
        "trainer.val_check_interval=30",
        "data.valid_max_sentences=40",
        "data.subword_alpha=0.5",
        "checkpoint.keep_last=2",
    )
    return data, run_dir


def test_training_writes_checkpoints_logs_and_samples(trained):
    _, run_dir = trained
    assert (run_dir / "model.pt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    metrics = (run_dir / "csv" / "metrics.csv").read_text()
    assert "val/bleu" in metrics and "train/loss" in metrics
    assert list((run_dir / "csv" / "samples").glob("*.tsv"))


def test_translate_one_line_out_per_line_in(trained):
    _, run_dir = trained
    lines = [b"A man is riding a bike.", b"", b"   ", b"Two dogs \xff\xfe play.", b"A woman sings.\r"]
    result = s2s("translate", str(run_dir / "model.pt"), "--beam", "2", input=b"\n".join(lines) + b"\n")
    out = result.stdout.decode().split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)
    assert out[1] == out[2] == ""
    assert out[0] and out[3] and out[4]
    assert "invalid UTF-8" in result.stderr.decode()


def test_translate_files_and_nbest(trained, tmp_path):
    _, run_dir = trained
    source = tmp_path / "in.txt"
    source.write_text("A dog runs.\nA child plays in the park.\n")
    out = tmp_path / "out.txt"
    s2s("translate", str(run_dir / "model.pt"), "-i", str(source), "-o", str(out), "--beam", "3", "--nbest", "2")
    rows = out.read_text().splitlines()
    assert len(rows) == 2 and all(len(r.split("\t")) == 4 for r in rows)
    # a training checkpoint works as well as the exported one
    s2s("translate", str(run_dir / "checkpoints" / "last.ckpt"), "-i", str(source), "-o", str(out))
    assert len(out.read_text().splitlines()) == 2


def test_evaluate_reports_sacrebleu_signatures(trained):
    data, run_dir = trained
    src, ref = data / "valid.en", data / "valid.de"
    head_src, head_ref = run_dir / "v.en", run_dir / "v.de"
    head_src.write_text("\n".join(src.read_text().splitlines()[:30]) + "\n")
    head_ref.write_text("\n".join(ref.read_text().splitlines()[:30]) + "\n")
    scores = json.loads(
        s2s(
            "evaluate",
            str(run_dir / "model.pt"),
            "--src",
            str(head_src),
            "--ref",
            str(head_ref),
            "--beam",
            "1",
            "--json",
        ).stdout
    )
    assert 0 <= scores["bleu"] <= 100 and scores["sentences"] == 30
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed") and "chrf_signature" in scores
    text = s2s("evaluate", str(run_dir / "model.pt"), "--src", str(head_src), "--ref", str(head_ref), "--beam", "1")
    assert "BLEU" in text.stdout.decode() and "tok:13a" in text.stdout.decode()


@pytest.mark.parametrize(
    "args,message",
    [
        (["translate", "/nonexistent/model.pt"], "checkpoint not found"),
        (["evaluate", "/nonexistent/model.pt", "--src", "a", "--ref", "b"], "checkpoint not found"),
        (["frobnicate"], "unknown command"),
        (["train", "model.d_modle=3"], "d_modle"),
        (["train", "model=huge"], "huge"),
    ],
)
def test_user_errors_are_one_clear_line(args, message):
    result = s2s(*args, check=False)
    assert result.returncode != 0
    err = result.stderr.decode()
    assert message in err and "Traceback" not in err


def test_random_bytes_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(os.urandom(1000))
    result = s2s("translate", str(bad), input=b"hello\n", check=False)
    assert result.returncode == 2 and "not a readable checkpoint" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize(
    "override,message",
    [
        ("model.d_modle=3", "Key 'd_modle' is not in struct"),
        ("model=huge", "available options in 'model': audio_small, audio_tiny, base, default, small, tiny"),
        ("model.d_model=abc", "d_model='abc' must be of type int"),
        ("optim.schedule=cosine_time", "anneals to zero at the time limit: set trainer.max_time"),
        ("data.subword_alpha=0", "data.subword_alpha must be above 0"),
        ("warm_start.checkpoint=/nonexistent.pt", "checkpoint not found: /nonexistent.pt"),
    ],
)
def test_config_errors_name_the_problem_on_one_line(override, message, tmp_path, trained):
    data, _ = trained  # a value's type is checked once the data (and so the vocabulary) is there
    result = s2s("train", override, f"data.data_dir={data}", f"hydra.run.dir={tmp_path}", check=False)
    lines = [line for line in result.stderr.decode().splitlines() if "error" in line]
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0]


def test_a_run_can_start_from_another_runs_encoder_and_decoder(trained, tmp_path):
    data, run_dir = trained
    result = s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        f"warm_start.checkpoint={run_dir / 'model.pt'}",
        "warm_start.parts=[encoder,decoder]",
        "trainer.max_steps=1",
        "trainer.limit_val_batches=0",
        "test_after_training=false",
    )
    assert "warm start: encoder, decoder (" in result.stderr.decode()


def test_bf16_training_falls_back_to_fp32_exactly_where_the_cpu_has_no_native_bf16(trained, tmp_path):
    data, _ = trained
    result = s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        "trainer.precision=bf16-mixed",
        "trainer.max_steps=2",
        "trainer.limit_val_batches=0",
        "test_after_training=false",
    )
    fell_back = "trainer.precision=bf16-mixed -> 32-true" in result.stderr.decode()
    assert fell_back == (not cpu_has_fast_bf16())
    recorded = load_checkpoint(tmp_path / "model.pt").info.config["trainer"]["precision"]
    assert recorded == ("32-true" if fell_back else "bf16-mixed")  # the checkpoint says what was used


@pytest.mark.parametrize(
    "caps,reason",
    [
        (["trainer.max_steps=3"], "(trainer.max_steps=3 was reached)"),
        (["trainer.max_steps=-1", "trainer.max_epochs=1"], "(trainer.max_epochs=1 was reached)"),
    ],
)
def test_a_cosine_time_run_cut_short_by_a_cap_says_it_did_not_anneal(caps, reason, trained, tmp_path):
    data, _ = trained
    result = s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        "optim.schedule=cosine_time",
        "trainer.max_time=00:01:00:00",
        *caps,
        "trainer.limit_val_batches=0",
        "test_after_training=false",
    )
    note = " ".join(result.stderr.decode().split())
    assert "before trainer.max_time ran out " + reason in note and "of its peak instead of zero" in note


def test_choose_checkpoint_scores_test_only_with_the_pair_validation_chose(trained, tmp_path):
    data, run_dir = trained
    heads = {}
    for split in ("valid", "test"):
        for lang in ("en", "de"):
            heads[split, lang] = tmp_path / f"{split}.{lang}"
            heads[split, lang].write_text("\n".join((data / f"{split}.{lang}").read_text().splitlines()[:20]) + "\n")
    tool = Path(__file__).resolve().parents[2] / "tools" / "choose_checkpoint.py"
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(tool.parents[1]))
    result = subprocess.run(
        [
            sys.executable,
            str(tool),
            str(run_dir),
            "--average",
            "2",
            "--decode",
            "--beam 1",
            "--decode",
            "--beam 2",
            "--lowercase-too",
            "--valid",
            f"--src {heads['valid', 'en']} --ref {heads['valid', 'de']}",
            "--test",
            f"--src {heads['test', 'en']} --ref {heads['test', 'de']}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    choice = json.loads((run_dir / "choice.json").read_text())
    tried = {(v["checkpoint"], v["decode"]): v["mean"] for v in choice["valid"]}
    assert set(tried) == {(c, d) for c in ("model", "avg2") for d in ("--beam 1", "--beam 2")}
    assert (run_dir / "avg2.pt").is_file()
    chosen = (choice["chosen"]["checkpoint"], choice["chosen"]["decode"])
    assert tried[chosen] == max(tried.values())
    [test] = choice["test"]
    assert test["cased"]["bleu_signature"].startswith("nrefs:1|case:mixed")
    assert test["lowercased"]["bleu_signature"].startswith("nrefs:1|case:lc")
    assert "<- chosen" in result.stdout and f"test {chosen[0]} ({chosen[1]}):" in result.stdout
