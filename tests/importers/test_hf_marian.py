"""Hugging Face Marian import: random-weight Marian models must give our model the same logits
(within 1e-4) and the same greedy and beam outputs, token for token, as Hugging Face."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sentencepiece as spm
import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.main import main as cli_main
from s2s.decoding import DecodingOptions, generate
from s2s.inference.translator import Translator
from tests.conftest import multi30k_lines

transformers = pytest.importorskip("transformers")

# Random Marian models repeat themselves and rarely stop. A bias on final_logits_bias[</s>] (larger
# when the output layer is not tied to the input embedding) and no_repeat_ngram 2 make most outputs
# end after a few tokens, at varied lengths, so that the comparison exercises the stopping rules.
EOS_BIAS = {False: 0.5, True: 2.5}  # by `separate`
EMBED_STD = 0.3
LIMIT = 40  # max new tokens, EOS included


pytestmark = pytest.mark.usefixtures("one_thread")


def train_spm(lines: list[str], vocab_size: int) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=2,
        minloglevel=2,
        hard_vocab_limit=False,
    )
    return model.getvalue()


def marian_vocab(*spm_models: bytes, codes: tuple[str, ...] = ()) -> dict[str, int]:
    """Marian's layout: ``</s>`` 0, ``<unk>`` 1, the pieces (then language ``codes``), ``<pad>`` last."""
    pieces: dict[str, None] = {}
    for model in spm_models:
        sp = spm.SentencePieceProcessor(model_proto=model)
        pieces.update(
            (sp.id_to_piece(i), None)
            for i in range(sp.get_piece_size())
            if not sp.is_control(i) and not sp.is_unknown(i)
        )
    vocab = ["</s>", "<unk>", *pieces, *codes, "<pad>"]
    return {p: i for i, p in enumerate(vocab)}


def make_marian(folder: Path, *, separate: bool, seed: int, codes: tuple[str, ...] = ()) -> transformers.MarianMTModel:
    """A Marian model folder as ``save_pretrained`` and OPUS-MT lay it out, with random weights."""
    en, de = multi30k_lines("train", "en", 1500), multi30k_lines("train", "de", 1500)
    source_spm, target_spm = train_spm(en, 220), train_spm(de, 260)
    folder.mkdir(parents=True)
    (folder / "source.spm").write_bytes(source_spm)
    (folder / "target.spm").write_bytes(target_spm)
    if separate:
        source_vocab, target_vocab = marian_vocab(source_spm), marian_vocab(target_spm)
        # one pad id serves both sides in Marian's config: give <pad> the same id in both
        pad = min(len(source_vocab), len(target_vocab)) - 1
        for vocab in (source_vocab, target_vocab):
            other = next(piece for piece, i in vocab.items() if i == pad)
            vocab[other], vocab["<pad>"] = vocab["<pad>"], pad
        (folder / "target_vocab.json").write_text(json.dumps(target_vocab))
        (folder / "tokenizer_config.json").write_text(json.dumps({"separate_vocabs": True}))
    else:
        source_vocab = target_vocab = marian_vocab(source_spm, target_spm, codes=codes)
        pad = len(source_vocab) - 1
    (folder / "vocab.json").write_text(json.dumps(source_vocab))
    config = transformers.MarianConfig(
        vocab_size=len(source_vocab),
        decoder_vocab_size=len(target_vocab),
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        activation_function="swish",
        max_position_embeddings=128,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        scale_embedding=True,
        share_encoder_decoder_embeddings=not separate,
        tie_word_embeddings=not separate,
    )
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(config).eval()
    with torch.no_grad():  # weights large enough that outputs depend on the source and position
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed_positions" not in name:  # keep the sinusoids
                p.normal_(0, EMBED_STD if "embed" in name or "shared" in name else p.shape[1] ** -0.5)
        model.final_logits_bias.normal_(0, 0.1)
        model.final_logits_bias[0, 0] += EOS_BIAS[separate]
    model.save_pretrained(folder)
    return model


def padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    source = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
    for i, row in enumerate(rows):
        source[i, : len(row)] = torch.tensor(row)
    return source, torch.tensor([len(r) for r in rows])


def hf_outputs(model, source: torch.Tensor, lengths: torch.Tensor, pad: int, **kwargs) -> list[list[int]]:
    """Hugging Face's best output per row: tokens before ``</s>`` (all of them when it hit the limit)."""
    mask = (torch.arange(source.shape[1])[None] < lengths[:, None]).long()
    out = model.generate(
        input_ids=source,
        attention_mask=mask,
        bad_words_ids=[[pad]],
        do_sample=False,
        early_stopping=True,
        max_new_tokens=LIMIT,
        **kwargs,
    )
    return [row[: row.index(0)] if 0 in row else row for row in out[:, 1:].tolist()]  # drop the start token


@pytest.fixture(scope="module", params=[False, True], ids=["shared-vocab", "separate-vocabs"])
def imported(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("marian") / "model"
    hf = make_marian(folder, separate=request.param, seed=7)
    out = folder.parent / "imported.pt"
    cli_main(["import", "hf-marian", str(folder), str(out)])  # through the real CLI
    return hf, load_checkpoint(out), folder


def sources(tokenizer) -> list[list[int]]:
    lines = multi30k_lines("val", "en", 12)
    return [tokenizer.encode(line)[: 3 + 2 * i] + [tokenizer.eos_id] for i, line in enumerate(lines)]


def test_logits_match_hugging_face(imported):
    hf, loaded, _ = imported
    tok = loaded.tokenizer
    source, lengths = padded(sources(tok), tok.pad_id)
    target = torch.randint(3, tok.vocab_size - 1, (source.shape[0], 9))
    target[:, 0] = tok.bos_id  # decoder start = <pad>
    mask = (torch.arange(source.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        theirs = hf(input_ids=source, attention_mask=mask, decoder_input_ids=target).logits
        ours = loaded.model(source, lengths, target)
    assert (theirs - ours).abs().max().item() < 1e-4


def test_tokenizer_matches_hugging_face(imported):
    _, loaded, folder = imported
    theirs = transformers.MarianTokenizer.from_pretrained(str(folder))
    for line in multi30k_lines("val", "en", 20):
        assert loaded.tokenizer.encode(line) + [loaded.tokenizer.eos_id] == theirs(line)["input_ids"]
    assert not loaded.tokenizer.writes_lower_case  # a cased Marian model: s2s evaluate warns of nothing


@pytest.mark.parametrize("beam,alpha,ngram", [(1, 1.0, 0), (1, 1.0, 2), (4, 1.0, 2), (5, 0.6, 2)])
def test_outputs_match_hugging_face_token_for_token(imported, beam, alpha, ngram):
    hf, loaded, _ = imported
    tok = loaded.tokenizer
    rows = sources(tok)
    source, lengths = padded(rows, tok.pad_id)
    theirs = hf_outputs(
        hf, source, lengths, tok.pad_id, num_beams=beam, length_penalty=alpha, no_repeat_ngram_size=ngram
    )
    # Hugging Face ranks beams by logprob / len**alpha, len counting EOS: our "plain" penalty
    options = DecodingOptions(
        beam_size=beam,
        length_penalty=alpha,
        length_penalty_style="plain",
        max_len_a=0,
        max_len_b=LIMIT,
        no_repeat_ngram=ngram,
    )
    prefix = torch.full((len(rows), 1), tok.bos_id)
    ours = generate(
        loaded.model, source, lengths, prefix, options=options, eos_id=tok.eos_id, suppress_ids=[tok.pad_id]
    )
    ours = [list(h[0].tokens) for h in ours]
    ended = [len(t) < LIMIT - 1 for t in theirs]  # ended by the model's own </s>
    # Both force </s> as the last allowed token; Hugging Face scores that forced </s> as 0, we as its
    # log-probability, so beam rankings of hypotheses cut at the limit may differ: those rows must
    # reach the limit in both, every other row must be identical.
    for mine, their, end in zip(ours, theirs, ended):
        assert mine == their if end or beam == 1 else len(mine) == len(their) == LIMIT - 1
    if ngram:
        assert sum(ended) >= 5 and len({len(t) for t, e in zip(theirs, ended) if e}) >= 3


def test_translator_runs_on_an_imported_checkpoint(imported):
    _, loaded, _ = imported
    translator = Translator(loaded, options=DecodingOptions(beam_size=2, max_len_b=20))
    out = list(translator.translate(["A man rides a bike.", "", "Two dogs play."]))
    assert len(out) == 3 and out[1].text == "" and isinstance(out[0].text, str)


def test_tgt_lang_puts_the_language_code_of_a_multilingual_model_in_front(tmp_path):
    folder = tmp_path / "en-mul"
    make_marian(folder, separate=False, seed=3, codes=(">>deu<<", ">>fra<<"))
    out = tmp_path / "en-mul.pt"
    cli_main(["import", "hf-marian", str(folder), str(out)])
    loaded = load_checkpoint(out)
    tok, options = loaded.tokenizer, DecodingOptions(beam_size=2, max_len_b=12)
    assert tok.language_codes == {"deu": tok.vocab_size - 3, "fra": tok.vocab_size - 2}
    to_french = Translator(loaded, options=options, target_lang="fra")
    assert to_french.encode("Two dogs play.", 1) == [tok.language_codes["fra"]] + tok.encode("Two dogs play.") + [0]
    assert to_french.encode(">>deu<< Two dogs.", 1) == tok.encode(">>deu<< Two dogs.") + [0]  # its own code wins
    by_flag = [t.text for t in to_french.translate(["Two dogs play.", "A man rides a bike."])]
    in_text = Translator(loaded, options=options).translate([">>fra<< Two dogs play.", ">>fra<< A man rides a bike."])
    assert by_flag == [t.text for t in in_text]
    with pytest.raises(ValueError, match="deu, fra"):
        Translator(loaded, options=options, target_lang="ces")
