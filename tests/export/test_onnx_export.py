"""``s2s export onnx``: onnxruntime, driven by the package's numpy loop, decodes as s2s does, token for token."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main
from s2s.decoding import DecodingOptions, generate
from s2s.export.metadata import prefix_for
from s2s.inference.decoding_defaults import layered_options
from tests.conftest import ROOT
from tests.export.conftest import VARIANT_OPTIONS, greedy_tokens, random_checkpoint

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
from s2s.export.onnx_runtime import OnnxSeq2Seq, OnnxTranslator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def padded(sources: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    batch = np.full((len(sources), max(map(len, sources))), pad_id, dtype=np.int64)
    for i, ids in enumerate(sources):
        batch[i, : len(ids)] = ids
    return batch, np.array([len(ids) for ids in sources], dtype=np.int64)


@pytest.fixture(scope="module")
def text_export(text_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "model"
    main(["export", "onnx", str(text_checkpoint), str(out)])  # through the real CLI
    return out


def test_greedy_output_is_s2s_token_for_token(loaded_text, text_export, sentences):
    sources, ours = greedy_tokens(loaded_text, sentences)
    model = OnnxSeq2Seq(text_export, threads=1)
    theirs = model.greedy(*padded(sources, loaded_text.tokenizer.pad_id), prefix_for(model.meta))
    assert theirs == ours
    assert len({len(t) for t in ours}) > 5  # rows leave the batch at many different steps


def translate_cli(checkpoint, lines: list[str], tmp_path) -> list[str]:
    """``s2s translate --beam 1``'s output lines."""
    source, out = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    main(["translate", str(checkpoint), "-i", str(source), "-o", str(out), "--beam", "1"])
    return out.read_text(encoding="utf-8").splitlines()


def test_translator_gives_s2s_translates_text(text_checkpoint, text_export, sentences, tmp_path):
    lines = sentences[:6] + ["  "] + sentences[6:8]
    expected = translate_cli(text_checkpoint, lines, tmp_path)
    assert OnnxTranslator(text_export, threads=1).translate(lines) == expected
    assert expected[6] == "" and all(expected[:6])


def test_the_runtime_loop_needs_no_torch(text_checkpoint, text_export, sentences, tmp_path):
    """The loop runs in a Python where importing torch fails."""
    lines = sentences[:3]
    script = (
        "import sys, json; sys.modules['torch'] = None\n"
        "from s2s.export.onnx_runtime import OnnxTranslator\n"
        f"print(json.dumps(OnnxTranslator({str(text_export)!r}, threads=1).translate({lines!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == translate_cli(text_checkpoint, lines, tmp_path)


def test_the_step_graph_grows_the_cache_it_is_given(text_export, loaded_text, sentences):
    """Feeding a prefix in one step or in two gives the same logits; each step appends its tokens to the cache,
    and the cross-attention keys/values come from the encoder graph once."""
    model = OnnxSeq2Seq(text_export, threads=1)
    meta, layers = model.meta, model.layers
    sources, _ = greedy_tokens(loaded_text, sentences[:3])
    mask, *cross = model.encode(*padded(sources, meta["pad_id"]))
    tokens = np.array([prefix_for(meta) + [100, 200, 300]] * 3, dtype=np.int64)  # (3, P + 3)
    empty = np.zeros((3, meta["num_heads"], 0, meta["head_dim"]), dtype=np.float32)

    def step(new: np.ndarray, past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        feeds = {"tokens": new, "memory_mask": mask}
        for i in range(layers):
            feeds.update(
                {
                    f"cross_k_{i}": cross[2 * i],
                    f"cross_v_{i}": cross[2 * i + 1],
                    f"past_k_{i}": past[2 * i],
                    f"past_v_{i}": past[2 * i + 1],
                }
            )
        logits, *present = model.decoder_step.run(None, feeds)
        return logits, present

    whole, cache = step(tokens, [empty] * (2 * layers))
    assert all(c.shape == (3, meta["num_heads"], tokens.shape[1], meta["head_dim"]) for c in cache)
    first, half = step(tokens[:, :2], [empty] * (2 * layers))
    second, grown = step(tokens[:, 2:], half)
    assert [c.shape[2] for c in half] == [2] * (2 * layers) and [c.shape[2] for c in grown] == [tokens.shape[1]] * (
        2 * layers
    )
    np.testing.assert_allclose(second, whole, atol=1e-4)
    np.testing.assert_allclose(grown[0], cache[0], atol=1e-5)


def test_every_text_option_exports(tokenizer, sentences, tmp_path):
    """A random model with every text option off its default (post-LN, learned decoder positions, GELU, no
    embedding scale, an untied Wu with a bias, separate source embeddings, a shorter encoder table)."""
    checkpoint = random_checkpoint(tokenizer, tmp_path / "variant.pt", **VARIANT_OPTIONS)
    main(["export", "onnx", str(checkpoint), str(tmp_path / "onnx")])
    loaded = load_checkpoint(checkpoint)
    sources, ours = greedy_tokens(loaded, sentences[:16])
    model = OnnxSeq2Seq(tmp_path / "onnx", threads=1)
    assert model.greedy(*padded(sources, tokenizer.pad_id), prefix_for(model.meta)) == ours


@pytest.mark.slow
def test_a_speech_model_with_a_ctc_head_exports(tokenizer, tmp_path):
    """Audio (Conv2d front end, Swish) and the CTC head's log-probabilities, at lengths from 3 frames (extended with
    silence) to 120 in one batch."""
    checkpoint = random_checkpoint(
        tokenizer, tmp_path / "audio.pt", encoder="audio", ctc=True, conv_channels=8, activation="swish"
    )
    main(["export", "onnx", str(checkpoint), str(tmp_path / "onnx")])
    loaded = load_checkpoint(checkpoint)
    features, lengths = torch.randn(5, 120, 80) * 4 - 4, torch.tensor([120, 100, 37, 7, 3])
    prefix = loaded.tokenizer.prefix(None)
    options = layered_options(loaded, {"beam_size": 1, "ctc_weight": 0.0})  # `s2s transcribe --beam 1 --ctc-weight 0`
    hyps = generate(
        loaded.model,
        features,
        lengths,
        torch.tensor([prefix] * 5),
        options=options,
        eos_id=tokenizer.eos_id,
        suppress_ids=list(tokenizer.never_generated),
    )
    model = OnnxSeq2Seq(tmp_path / "onnx", threads=1)
    assert model.greedy(features.numpy(), lengths.numpy(), prefix) == [list(h[0].tokens) for h in hyps]
    mask, *_, ctc = model.encode(features.numpy(), lengths.numpy())
    with torch.no_grad():
        encoded = loaded.model.encode(features, lengths)
        ours = loaded.model.ctc_log_probs(encoded.memory).numpy()
    assert np.array_equal(mask, encoded.mask.numpy())
    np.testing.assert_allclose(ctc[mask], ours[mask], atol=1e-4)
    short, short_lengths = features[3:, :5], torch.tensor([5, 3])  # shorter than the front end's 7 frames
    hyps = generate(
        loaded.model,
        short,
        short_lengths,
        torch.tensor([prefix] * 2),
        options=options,
        eos_id=tokenizer.eos_id,
        suppress_ids=list(tokenizer.never_generated),
    )
    assert model.greedy(short.numpy(), short_lengths.numpy(), prefix) == [list(h[0].tokens) for h in hyps]


@pytest.mark.slow
def test_whisper_through_onnxruntime_is_s2s_token_for_token(whisper_checkpoint, tmp_path):
    """Whisper tiny.en (Conv1d front end, 30 s windows) on three real AN4 recordings."""
    from s2s.data.speech.audio import load_audio
    from tests.importers.test_whisper_import import WINDOW, decode, whisper_window
    from tests.speech_helpers import AN4, require_shared

    main(["export", "onnx", str(whisper_checkpoint), str(tmp_path / "onnx")])
    loaded = load_checkpoint(whisper_checkpoint)
    files = sorted(require_shared(AN4).glob("train/*.flac"))[:3]
    windows = torch.stack([whisper_window(load_audio(f)) for f in files])  # (3, 3000, 80) raw log-mel
    ours = decode(loaded, windows, torch.full((3,), WINDOW), DecodingOptions(beam_size=1, max_len_a=0, max_len_b=100))
    model = OnnxSeq2Seq(tmp_path / "onnx", threads=1)
    theirs = model.greedy(windows.numpy(), np.full(3, WINDOW), prefix_for(model.meta), max_len_a=0, max_len_b=100)
    assert theirs == ours and all(loaded.tokenizer.decode(ids) for ids in ours)


def test_a_graph_onnxruntime_computes_differently_fails_the_export(tokenizer, tmp_path, capsys, monkeypatch):
    """The exporter's own check (onnxruntime against torch on the example inputs) stops a wrong model."""
    from s2s.export import onnx_export

    checkpoint = random_checkpoint(tokenizer, tmp_path / "model.pt")
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)  # no difference, not even 0, passes
    with pytest.raises(SystemExit) as exit_:
        main(["export", "onnx", str(checkpoint), str(tmp_path / "onnx")])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1
    assert "encoder.onnx: onnxruntime's cross_k_0 differs from torch's" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
