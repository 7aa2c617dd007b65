"""Train with pretrained word vectors and logger=csv, then `s2s analyze` the model: the whole path via the CLI."""

import json

import pytest

from tests.conftest import MULTI30K, require_shared
from tests.e2e.test_translation_cli import s2s


@pytest.mark.slow
def test_train_with_vectors_then_analyze(tmp_path):
    data = tmp_path / "data"
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
    vec = tmp_path / "small.vec"
    words = ["man", "woman", "dog", "a", "the", "in", "on", "is", ".", "street"]
    vec.write_text(
        f"{len(words)} 64\n"
        + "".join(
            w + " " + " ".join(f"{(i + 1) * 0.01 * ((j % 7) - 3):.3f}" for j in range(64)) + "\n"
            for i, w in enumerate(words)
        ),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    result = s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=20",
        "trainer.val_check_interval=20",
        "data.valid_max_sentences=20",
        "test_after_training=false",
        f"embedding.pretrained={vec}",
        "embedding.freeze=true",
    )
    assert "pieces initialized" in result.stderr.decode() and "frozen" in result.stderr.decode()
    assert len(list((run_dir / "csv" / "attention").rglob("*.png"))) == 6
    wrong = tmp_path / "wide.vec"
    wrong.write_text("man " + " ".join(["0.1"] * 300) + "\n", encoding="utf-8")
    failed = s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={data}",
        "logger=none",
        f"hydra.run.dir={tmp_path}/x",
        f"embedding.pretrained={wrong}",
        check=False,
    )
    assert failed.returncode == 2
    assert "300-dimensional vectors but the model's embeddings are 64-dimensional" in failed.stderr.decode()

    inputs = tmp_path / "in.en"
    inputs.write_text(
        "\n".join((data / "valid.en").read_text(encoding="utf-8").splitlines()[:12]) + "\n", encoding="utf-8"
    )
    out = tmp_path / "report"
    s2s("analyze", str(run_dir / "model.pt"), "-i", str(inputs), "--out", str(out), "--examples", "2")
    text = (out / "analysis.md").read_text(encoding="utf-8")
    heads = json.loads((out / "heads.json").read_text(encoding="utf-8"))["heads"]
    assert text.startswith("# Analysis\n\n## Layer 1, Head 1 (encoder self-attention)")
    assert len(heads) == 3 * 2 * 4  # tiny model: 2 layers, 4 heads, three kinds of attention
    assert text.count("Example Sentences:") == len(heads)
