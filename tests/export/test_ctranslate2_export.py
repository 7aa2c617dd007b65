"""``s2s export ctranslate2``: CTranslate2 decodes the exported model as s2s does, token for token.

Text models through ``ctranslate2.Translator`` (the demo model on real Multi30k sentences, and random
models off every default), Whisper tiny.en through ``ctranslate2.models.Whisper`` on real AN4
recordings; and what CTranslate2 cannot express is refused, naming the option.
"""

from __future__ import annotations

import pytest
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main
from s2s.data.speech.audio import load_audio
from s2s.decoding import DecodingOptions
from s2s.export.metadata import prefix_for
from s2s.inference.decoding_defaults import layered_options
from s2s.inference.translator import Translator
from s2s.model.info import CheckpointInfo
from tests.export.conftest import VARIANT_OPTIONS, greedy_tokens, random_checkpoint
from tests.speech_helpers import AN4, require_shared

ctranslate2 = pytest.importorskip("ctranslate2")
from s2s.export.ctranslate2_runtime import CTranslate2Translator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def export(checkpoint, out) -> None:
    main(["export", "ctranslate2", str(checkpoint), str(out)])  # through the real CLI


def test_translator_output_is_s2s_token_for_token(text_checkpoint, loaded_text, sentences, tmp_path):
    export(text_checkpoint, tmp_path / "ct2")
    sources, ours = greedy_tokens(loaded_text, sentences)
    translator = CTranslate2Translator(tmp_path / "ct2", threads=1)
    assert translator.greedy(sources, prefix_for(translator.meta)) == ours
    texts = [loaded_text.tokenizer.decode(ids) for ids in ours]
    assert translator.translate(sentences) == texts and all(texts)


@pytest.mark.parametrize(
    "options",
    [
        VARIANT_OPTIONS,
        dict(activation="swish"),
        dict(learned_positions=True, encoder_positions="whisper"),
        dict(tie_output=False, share_embeddings=False),
    ],
    ids=["all", "swish", "whisper-sinusoids", "untied"],
)
def test_text_options_are_expressed(tokenizer, sentences, tmp_path, options):
    """Random models that reach their length limits as well as EOS: each row's own limit holds."""
    checkpoint = random_checkpoint(tokenizer, tmp_path / "model.pt", **options)
    export(checkpoint, tmp_path / "ct2")
    sources, ours = greedy_tokens(load_checkpoint(checkpoint), sentences[:16])
    translator = CTranslate2Translator(tmp_path / "ct2", threads=1)
    assert translator.greedy(sources, prefix_for(translator.meta)) == ours


def test_a_multilingual_model_writes_the_language_asked_for(tokenizer, sentences, tmp_path):
    """Two target languages: each one's tag is the target prefix, and the language must be named."""
    info = CheckpointInfo(task="translation", tgt_langs=("de", "fr"))
    checkpoint = random_checkpoint(tokenizer, tmp_path / "model.pt", info=info)
    export(checkpoint, tmp_path / "ct2")
    loaded = load_checkpoint(checkpoint)
    translator = CTranslate2Translator(tmp_path / "ct2", threads=1)
    outputs = {}
    for lang in ("de", "fr"):
        s2s_translator = Translator(loaded, options=layered_options(loaded, {"beam_size": 1}), target_lang=lang)
        expected = [t.text for t in s2s_translator.translate(sentences[:8])]
        outputs[lang] = translator.translate(sentences[:8], target_lang=lang)
        assert outputs[lang] == expected
    assert outputs["de"] != outputs["fr"]
    with pytest.raises(ValueError, match="choose one with target_lang"):
        translator.translate(sentences[:1])
    with pytest.raises(ValueError, match="not 'cs'"):
        translator.translate(sentences[:1], target_lang="cs")


@pytest.mark.parametrize(
    "options,named",
    [
        (dict(ctc=True), "ctc=True"),
        (dict(encoder="audio", conv_channels=8), "audio_frontend='conv2d'"),
        (
            dict(
                encoder="audio",
                audio_frontend="conv1d",
                subsampling=2,
                activation="gelu",
                embed_scale=False,
                features="log_mel",
            ),
            "features='log_mel'",
        ),
        (dict(encoder="audio", audio_frontend="conv1d", subsampling=2, features="whisper"), "activation='relu'"),
    ],
)
def test_what_ctranslate2_cannot_express_is_refused_in_one_line(tokenizer, tmp_path, capsys, options, named):
    checkpoint = random_checkpoint(tokenizer, tmp_path / "model.pt", **options)
    with pytest.raises(SystemExit) as exit_:
        export(checkpoint, tmp_path / "ct2")
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith("s2s: error: CTranslate2 cannot express model option ") and named in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # nothing half-written


# ----- Whisper ------------------------------------------------------------------------------------

WINDOW = 3000  # Whisper's 30 s of frames


@pytest.fixture(scope="module")
def whisper_export(whisper_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("whisper_ct2") / "model"
    export(whisper_checkpoint, out)
    return out


def test_whisper_transcripts_are_s2s_token_for_token(whisper_checkpoint, whisper_export, capsys):
    from tests.importers.test_whisper_import import decode, normalized, whisper_window

    loaded = load_checkpoint(whisper_checkpoint)
    tokenizer = loaded.tokenizer
    files = sorted(require_shared(AN4).glob("train/*.flac"))[:3]
    windows = torch.stack([whisper_window(load_audio(f)) for f in files])  # (3, 3000, 80) raw log-mel
    ours = decode(
        loaded, windows, torch.full((len(files),), WINDOW), DecodingOptions(beam_size=1, max_len_a=0, max_len_b=100)
    )
    whisper = ctranslate2.models.Whisper(str(whisper_export), device="cpu", compute_type="float32", intra_threads=1)
    results = whisper.generate(
        ctranslate2.StorageView.from_array(normalized(windows).numpy()),
        [tokenizer.prefix("en", "transcribe")] * len(files),
        beam_size=1,
        suppress_tokens=list(tokenizer.never_generated),
        max_length=100,
    )
    assert [r.sequences_ids[0] for r in results] == ours
    capsys.readouterr()
    main(["transcribe", str(whisper_checkpoint), *map(str, files), "--beam", "1"])
    transcripts = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
    assert [tokenizer.decode(ids) for ids in ours] == transcripts  # `s2s transcribe`'s text
    assert all(transcripts)  # words, not empty lines


def test_whisper_export_imports_back_to_the_same_weights(whisper_checkpoint, whisper_export, tmp_path):
    """s2s's own CTranslate2 reader (s2s import whisper FOLDER) reads every exported tensor back unchanged."""
    main(["import", "whisper", str(whisper_export), str(tmp_path / "back.pt")])
    original, back = load_checkpoint(whisper_checkpoint), load_checkpoint(tmp_path / "back.pt")
    theirs = back.model.state_dict()
    for name, tensor in original.model.state_dict().items():
        if name.endswith("self_attn.k_proj.bias") or name.endswith("cross_attn.k_proj.bias"):
            continue  # Whisper's keys have no bias: the importer gives s2s a zero one (no effect on attention)
        assert torch.equal(theirs[name], tensor), name
    assert back.info.whisper["suppress_ids"] == original.info.whisper["suppress_ids"]
