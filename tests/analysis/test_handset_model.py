"""A real Seq2Seq whose heads are set by hand, run through the real capture, measures and CLI.

The residual stream is made to hold only a one-hot position (token embeddings, every attention
output and every MLP output are zero), so a head's ``Wq``/``Wk`` can point it at the previous,
same or next position, at the first position, or nowhere (uniform). The report must name each.
"""

from __future__ import annotations

import json

import pytest
import torch

from s2s.analysis.collect import collect_attention
from s2s.analysis.heads import summarize
from s2s.analysis.inputs import TextInputs
from s2s.checkpoint import LoadedModel, export_checkpoint
from s2s.cli.main import main
from s2s.decoding import DecodingOptions
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import multi30k_lines

D, H, POSITIONS = 64, 2, 32
HEAD_DIM = D // H
SCALE = 10.0
INFO = CheckpointInfo(task="translation", tgt_langs=("de",))

# (kind, layer, head) -> the rule it is set to; cross-attention "monotonic" attends from output
# position q to source position q - 1 (the prefix is [BOS, <2de>]: position 1 predicts word 0).
PLAN = {
    ("encoder", 1, 1): "previous",
    ("encoder", 1, 2): "first",
    ("encoder", 2, 1): "next",
    ("encoder", 2, 2): "same",
    ("decoder", 1, 1): "previous",
    ("decoder", 1, 2): "first",
    ("decoder", 2, 1): "same",
    ("decoder", 2, 2): "broad",
    ("cross", 1, 1): "monotonic",
    ("cross", 1, 2): "first",
    ("cross", 2, 1): "broad",
    ("cross", 2, 2): "broad",
}
SHIFT = {"previous": -1, "monotonic": -1, "same": 0, "next": 1}


def set_head(attention, head: int, rule: str) -> None:
    """Point head ``head`` (0-based) of ``attention`` at keys chosen by ``rule``.

    Keys are the one-hot position itself (``Wk`` = identity on the position dims). A query at
    position p is ``SCALE * onehot(p + shift)`` for the shift rules, the constant
    ``SCALE * onehot(0)`` (a bias) for "first", and zero (uniform attention) for "broad".
    """
    rows = slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)
    with torch.no_grad():
        attention.k_proj.weight[rows] = 0.0
        attention.k_proj.weight[rows, :HEAD_DIM] = torch.eye(HEAD_DIM)
        attention.q_proj.weight[rows] = 0.0
        attention.q_proj.bias[rows] = 0.0
        if rule in SHIFT:
            shift = SHIFT[rule]
            for i in range(HEAD_DIM):
                if 0 <= i - shift < POSITIONS:
                    attention.q_proj.weight[head * HEAD_DIM + i, i - shift] = SCALE
        elif rule == "first":
            attention.q_proj.bias[head * HEAD_DIM] = SCALE


def handset_model(vocab_size: int) -> Seq2Seq:
    config = ModelConfig(
        vocab_size=vocab_size,
        pad_id=0,
        d_model=D,
        num_heads=H,
        encoder_layers=2,
        decoder_layers=2,
        ffn_dim=64,
        dropout=0.0,
        learned_positions=True,
        max_positions=POSITIONS,
        embed_scale=False,
    )
    model = Seq2Seq(config).eval()
    with torch.no_grad():
        model.decoder.embedding.tokens.weight.zero_()  # shared We: the stream holds positions only
        for embedding in (model.encoder.embedding, model.decoder.embedding):
            embedding.positions.table.zero_()
            embedding.positions.table[:, :POSITIONS] = torch.eye(POSITIONS)
        for module in model.modules():
            if hasattr(module, "out_proj"):
                module.out_proj.weight.zero_()
                module.out_proj.bias.zero_()
            if hasattr(module, "fc2"):
                module.fc2.weight.zero_()
                module.fc2.bias.zero_()
    layers = {
        "encoder": [layer.self_attn for layer in model.encoder.stack.layers],
        "decoder": [layer.self_attn for layer in model.decoder.layers],
        "cross": [layer.cross_attn for layer in model.decoder.layers],
    }
    for (kind, layer, head), rule in PLAN.items():
        set_head(layers[kind][layer - 1], head - 1, rule)
    return model


@pytest.fixture(scope="module")
def sentences(tokenizer) -> list[str]:
    """Short real sentences (their pieces, EOS and prefix fit the 32 positions)."""
    lines = multi30k_lines("val", "en", 200)
    return [s for s in lines if len(tokenizer.encode(s)) <= 24][:8]


def test_each_hand_set_head_is_named(tokenizer, sentences):
    loaded = LoadedModel(handset_model(tokenizer.vocab_size), tokenizer, INFO)
    side = TextInputs(loaded, options=DecodingOptions(beam_size=1))
    items = side.read(sentences)
    # Teacher-force each source's own pieces: n output positions for n source positions (with EOS).
    targets = [tokenizer.encode(s) for s in sentences]
    examples = collect_attention(side, loaded.model, items, targets=targets, batch_size=3)
    summaries = summarize(examples, top=2)
    found = {(s.kind, s.layer, s.head): s.pattern for s in summaries}
    assert found == PLAN
    figures = {(s.kind, s.layer, s.head): s.figure for s in summaries}
    for key, rule in PLAN.items():
        if rule != "broad":
            assert figures[key] > 0.9, (key, figures[key])


def test_batching_does_not_change_the_attention(tokenizer, sentences):
    loaded = LoadedModel(handset_model(tokenizer.vocab_size), tokenizer, INFO)
    side = TextInputs(loaded, options=DecodingOptions(beam_size=1))
    items = side.read(sentences[:4])
    targets = [tokenizer.encode(s)[:3] for s in sentences[:4]]
    alone = collect_attention(side, loaded.model, items, targets=targets, batch_size=1)
    together = collect_attention(side, loaded.model, items, targets=targets, batch_size=4)
    for a, b in zip(alone, together):
        for kind in a.weights:
            for wa, wb in zip(a.weights[kind], b.weights[kind]):
                assert wa.shape == wb.shape
                torch.testing.assert_close(torch.from_numpy(wa), torch.from_numpy(wb), atol=1e-5, rtol=0)


def test_analyze_cli_writes_the_report(tokenizer, sentences, tmp_path, capsys):
    checkpoint = tmp_path / "handset.pt"
    export_checkpoint(handset_model(tokenizer.vocab_size), tokenizer, INFO, checkpoint)
    inputs = tmp_path / "inputs.en"
    inputs.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    main(
        ["analyze", str(checkpoint), "-i", str(inputs), "--targets", str(inputs), "--out", str(out), "--examples", "2"]
    )
    text = (out / "analysis.md").read_text(encoding="utf-8")
    assert text.count("\n## Layer ") == len(PLAN)
    assert "## Layer 1, Head 1 (cross-attention)\n\nMonotonic source-target alignment: 100% of attention" in text
    data = json.loads((out / "heads.json").read_text(encoding="utf-8"))
    assert {(h["attention"], h["layer"], h["head"]): h["pattern"] for h in data["heads"]} == PLAN
    for head in data["heads"]:
        assert len(head["examples"]) == 2
        for example in head["examples"]:
            assert (out / example["heatmap"]).is_file()
    # without --targets the decoder side is the model's own (here meaningless) output: still a full report
    main(
        [
            "analyze",
            str(checkpoint),
            "-i",
            str(inputs),
            "--out",
            str(tmp_path / "own"),
            "--examples",
            "1",
            "--max-inputs",
            "2",
            "--max-len-a",
            "0",
            "--max-len-b",
            "4",
        ]
    )
    assert (tmp_path / "own" / "analysis.md").read_text(encoding="utf-8").count("\n## Layer ") == len(PLAN)


def test_analyze_cli_errors_are_one_line(tokenizer, tmp_path, capsys):
    checkpoint = tmp_path / "handset.pt"
    export_checkpoint(handset_model(tokenizer.vocab_size), tokenizer, INFO, checkpoint)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", str(checkpoint), "-i", str(blank), "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "s2s: error: no input sentences to analyze (every line is blank)"
    with pytest.raises(SystemExit):
        main(["analyze", str(checkpoint), "-i", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "r")])
    assert "no such file" in capsys.readouterr().err


def test_analyze_wandb_logs_the_figures_offline(tokenizer, sentences, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    checkpoint = tmp_path / "handset.pt"
    export_checkpoint(handset_model(tokenizer.vocab_size), tokenizer, INFO, checkpoint)
    inputs = tmp_path / "inputs.en"
    inputs.write_text("\n".join(sentences[:3]) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    main(
        [
            "analyze",
            str(checkpoint),
            "-i",
            str(inputs),
            "--targets",
            str(inputs),
            "--out",
            str(out),
            "--examples",
            "1",
            "--wandb",
            "--wandb-project",
            "s2s-test",
        ]
    )
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = runs[0] / "files"
    tables = list(files.rglob("heads*.table.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text(encoding="utf-8"))
    assert len(table["data"]) == len(PLAN)
    assert {row[3] for row in table["data"]} == set(PLAN.values())
    assert len(list((files / "media" / "images").rglob("*.png"))) == len(PLAN)
    assert (files / "analysis.md").is_file() and (files / "heads.json").is_file()
