"""Importance of heads on a model with a hand-set dead head, the summary table, and `s2s prune` end to end."""

from __future__ import annotations

import json

import pytest
import torch

from s2s.analysis.importance import (
    HeldOut,
    gradient_importance,
    masking_importance,
    rank_correlation,
)
from s2s.analysis.inputs import TextInputs
from s2s.checkpoint import LoadedModel, export_checkpoint, load_checkpoint
from s2s.cli.main import main
from s2s.cli.prune import best_heads
from s2s.decoding import DecodingOptions
from s2s.model.head_mask import HeadId, all_heads, attention_modules
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import multi30k_lines, tiny_config

INFO = CheckpointInfo(task="translation", tgt_langs=("de",))
DEAD = HeadId("cross", 1, 2)  # its columns of Wo are zero: it adds nothing, so it cannot matter
VITAL = HeadId("cross", 2, 1)  # its columns of Wo are scaled up: its output decides the next token


def model_with_dead_head(vocab_size: int) -> Seq2Seq:
    torch.manual_seed(3)
    model = Seq2Seq(tiny_config(vocab_size)).eval()
    modules = attention_modules(model)
    with torch.no_grad():
        for head, factor in ((DEAD, 0.0), (VITAL, 40.0)):
            module = modules[head.module]
            module.out_proj.weight[:, (head.head - 1) * module.head_dim : head.head * module.head_dim] *= factor
    return model


@pytest.fixture(scope="module")
def sources() -> list[str]:
    return multi30k_lines("val", "en", 6)


def heldout_of_own_outputs(tokenizer, model, sources) -> HeldOut:
    """References = the model's own greedy outputs, so the unmasked model scores BLEU 100."""
    side = TextInputs(
        LoadedModel(model, tokenizer, INFO), options=DecodingOptions(beam_size=1, max_len_a=0, max_len_b=8)
    )
    items = side.read(sources)
    outputs = side.decode(items)
    return HeldOut(side, items, [tokenizer.decode(o) for o in outputs], outputs, "bleu", batch_size=3)


def test_a_dead_head_has_no_importance_and_live_heads_do(tokenizer, sources):
    model = model_with_dead_head(tokenizer.vocab_size)
    heldout = heldout_of_own_outputs(tokenizer, model, sources)
    base, scores = masking_importance(model, heldout, [DEAD, VITAL])
    assert base == 100.0
    assert scores[DEAD] == 100.0  # masking it changes no output
    assert scores[VITAL] < 50.0
    gradients = gradient_importance(model, heldout.batches(), tokenizer.pad_id)
    assert set(gradients) == set(all_heads(model))
    assert gradients[DEAD] == 0.0
    assert all(gradients[h] > 0 for h in all_heads(model) if h != DEAD)
    assert all(m.head_mask is None for m in attention_modules(model).values())  # masks restored


def test_gradient_estimate_runs_inside_inference_mode(tokenizer, sources):
    model = model_with_dead_head(tokenizer.vocab_size)
    heldout = heldout_of_own_outputs(tokenizer, model, sources)
    outside = gradient_importance(model, heldout.batches(1), tokenizer.pad_id)
    with torch.inference_mode():  # as in a validation loop
        inside = gradient_importance(model, list(heldout.batches(1)), tokenizer.pad_id)
    assert inside == pytest.approx(outside)


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_best_heads_keeps_one_per_module():
    modules = [("encoder", 1), ("cross", 1)]
    scores = {HeadId(k, layer, h): float(10 * (k == "encoder") + h) for k, layer in modules for h in (1, 2, 3)}
    kept = best_heads(scores, 3)
    assert kept == {HeadId("encoder", 1, 3), HeadId("encoder", 1, 2), HeadId("cross", 1, 3)}
    with pytest.raises(Exception, match="keep between 2"):
        best_heads(scores, 1)


def test_analyze_prune_and_translate(tokenizer, sources, tmp_path):
    """analyze --heldout writes the sorted summary and importance picture; prune --keep-best from it
    writes a smaller checkpoint whose translations equal the masked model's."""
    checkpoint = tmp_path / "model.pt"
    export_checkpoint(model_with_dead_head(tokenizer.vocab_size), tokenizer, INFO, checkpoint)
    src, ref = tmp_path / "valid.en", tmp_path / "valid.de"
    src.write_text("\n".join(sources) + "\n", encoding="utf-8")
    ref.write_text("\n".join(multi30k_lines("val", "de", 6)) + "\n", encoding="utf-8")
    report = tmp_path / "report"
    short = ["--max-len-a", "0", "--max-len-b", "6"]
    main(
        [
            "analyze",
            str(checkpoint),
            "-i",
            str(src),
            "--out",
            str(report),
            "--examples",
            "1",
            "--heldout",
            str(src),
            str(ref),
            "--heldout-max",
            "3",
            "--max-inputs",
            "3",
            *short,
        ]
    )
    text = (report / "analysis.md").read_text(encoding="utf-8")
    assert (report / "importance.png").stat().st_size > 5000
    data = json.loads((report / "heads.json").read_text(encoding="utf-8"))
    assert data["importance"]["metric"] == "bleu" and data["importance"]["size"] == 3
    deltas = [h["importance"]["delta"] for h in data["heads"]]
    rows = [line for line in text.split("\n## Layer")[0].splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(data["heads"]) == 24
    table_deltas = [float(row.split(" | ")[7]) for row in rows]
    assert table_deltas == sorted(table_deltas, reverse=True)
    assert sorted(table_deltas) == pytest.approx(sorted(round(d, 2) for d in deltas), abs=0.006)

    pruned = tmp_path / "pruned.pt"
    main(["prune", str(checkpoint), "--keep-best", "12", "--importance", str(report / "heads.json"), "-o", str(pruned)])
    model = load_checkpoint(pruned).model
    assert len(all_heads(model)) == 12 and min(m.num_heads for m in attention_modules(model).values()) >= 1
    removed = ",".join(model.config.pruned_heads)
    outputs = []
    for name, args in (("pruned", [str(pruned)]), ("masked", [str(checkpoint), "--mask-heads", removed])):
        main(["translate", *args, "-i", str(src), "-o", str(tmp_path / name), "--beam", "2", *short])
        outputs.append((tmp_path / name).read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == len(sources)
    # a pruned checkpoint can be pruned again
    main(["prune", str(pruned), "--heads", "encoder:1:1", "-o", str(tmp_path / "twice.pt")])
    assert len(all_heads(load_checkpoint(tmp_path / "twice.pt").model)) == 11


def test_prune_errors_are_one_line(tokenizer, tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    export_checkpoint(model_with_dead_head(tokenizer.vocab_size), tokenizer, INFO, checkpoint)
    for args, message in (
        (["--heads", "encoder:9:1"], "no such head"),
        (["--heads", "decoder:1:1,decoder:1:2,decoder:1:3,decoder:1:4"], "keep at least one"),
        (["--keep-best", "10"], "needs --importance"),
        (["--heads", "bogus"], "kind:layer:head"),
    ):
        with pytest.raises(SystemExit):
            main(["prune", str(checkpoint), *args, "-o", str(tmp_path / "out.pt")])
        err = capsys.readouterr().err.strip()
        assert err.startswith("s2s: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out.pt").exists()
