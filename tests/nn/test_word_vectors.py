"""Initializing We from a small .vec file written by the test."""

from __future__ import annotations

import pytest
import torch

from s2s.errors import ConfigError, DataError
from s2s.model.seq2seq import Seq2Seq
from s2s.nn.word_vectors import init_from_vectors, read_vectors
from s2s.training.optim import OptimConfig, build_optimizer
from tests.conftest import tiny_config

DIM = 32  # tiny_config's d_model


def write_vec(path, vectors: dict[str, list[float]], header: bool = True) -> None:
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] if header else []
    lines += [word + " " + " ".join(f"{x:.5f}" for x in vec) for word, vec in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def vector(seed: int, dim: int = DIM) -> list[float]:
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed)).tolist()


@pytest.fixture
def model(tokenizer) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(tiny_config(vocab_size=tokenizer.vocab_size))


def piece_id(tokenizer, piece: str) -> int:
    token_id = tokenizer.sp.piece_to_id(piece)
    assert token_id != tokenizer.unk_id, piece
    return token_id


def test_word_initial_pieces_take_their_words_vectors(tokenizer, model, tmp_path):
    path = tmp_path / "small.vec"
    # "man" as is; "Dog" only lowercase in the file ("dog"); "." a punctuation piece; "zzz" in no vocabulary
    write_vec(path, {"man": vector(1), "dog": vector(2), ".": vector(3), "zzz": vector(4)})
    we = model.decoder.embedding.tokens
    before = we.weight.detach().clone()
    coverage = init_from_vectors([model.encoder.embedding.tokens, we], tokenizer, path)
    man, dot = piece_id(tokenizer, "▁man"), piece_id(tokenizer, ".")
    assert coverage.matched >= 3 and coverage.vocab == tokenizer.vocab_size
    assert f"{coverage.matched} of {tokenizer.vocab_size} pieces" in coverage.summary()
    # direction from the file, scale of the random rows
    cos = torch.nn.functional.cosine_similarity(we.weight[man], torch.tensor(vector(1)), dim=0)
    assert cos > 0.999
    assert torch.allclose(
        torch.nn.functional.cosine_similarity(we.weight[dot], torch.tensor(vector(3)), dim=0),
        torch.tensor(1.0),
        atol=1e-3,
    )
    assert 0.3 < we.weight[man].std() / DIM**-0.5 < 3
    if "▁Dog" in {tokenizer.piece(i) for i in range(tokenizer.vocab_size)}:
        dog = piece_id(tokenizer, "▁Dog")
        assert torch.nn.functional.cosine_similarity(we.weight[dog], torch.tensor(vector(2)), dim=0) > 0.999
    # a piece inside a word, and pieces with no vector, keep their random values
    untouched = [i for i in range(tokenizer.vocab_size) if tokenizer.piece(i) in ("s", "▁the", "▁a")]
    assert untouched and torch.equal(we.weight[untouched], before[untouched])
    # shared We: the encoder sees the same values
    assert torch.equal(model.encoder.embedding.tokens.weight[man], we.weight[man])


def test_freeze_keeps_loaded_rows_and_trains_the_rest(tokenizer, model, tmp_path):
    path = tmp_path / "small.vec"
    write_vec(path, {"man": vector(1), "woman": vector(5)}, header=False)
    we = model.decoder.embedding.tokens
    init_from_vectors([we], tokenizer, path, freeze=True)
    man, other = piece_id(tokenizer, "▁man"), piece_id(tokenizer, "▁the")
    loaded, random_row = we.weight[man].detach().clone(), we.weight[other].detach().clone()
    optimizer, _ = build_optimizer(model, OptimConfig(lr=1e-2, warmup_steps=0))
    source = torch.tensor([[man, other, 3]])
    for _ in range(3):
        logits = model(source, torch.tensor([3]), torch.tensor([[2, man, other]]))
        loss = torch.nn.functional.cross_entropy(logits[0], torch.tensor([man, other, 3]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(we.weight[man], loaded)
    assert not torch.equal(we.weight[other], random_row)


def test_dimension_mismatch_is_a_clear_error(tokenizer, model, tmp_path):
    path = tmp_path / "wide.vec"
    write_vec(path, {"man": vector(1, dim=300)})
    with pytest.raises(ConfigError, match="300-dimensional vectors but the model's embeddings are 32-dimensional"):
        init_from_vectors([model.decoder.embedding.tokens], tokenizer, path)


def test_malformed_and_unmatched_files(tokenizer, model, tmp_path):
    bad = tmp_path / "bad.vec"
    bad.write_text("2 3\nman 1 2 3\ndog 1 2\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3: expected a word and 3 numbers"):
        read_vectors(bad, {"dog"})
    foreign = tmp_path / "foreign.vec"
    write_vec(foreign, {"zzzq": vector(1)})
    with pytest.raises(DataError, match="none of the vocabulary's words"):
        init_from_vectors([model.decoder.embedding.tokens], tokenizer, foreign)
    with pytest.raises(DataError, match="not found"):
        init_from_vectors([model.decoder.embedding.tokens], tokenizer, tmp_path / "missing.vec")
