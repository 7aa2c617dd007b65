"""Model invariants: causality, padding, cache == recomputation, tying, and learning."""

import pytest
import torch

from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config


def batch(vocab=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    source = torch.randint(4, vocab, (3, 9), generator=g)
    lengths = torch.tensor([9, 6, 2])
    for i, n in enumerate(lengths):
        source[i, n:] = 0
    target = torch.randint(4, vocab, (3, 7), generator=g)
    return source, lengths, target


@pytest.mark.parametrize(
    "overrides",
    [{}, {"norm_first": False}, {"learned_positions": True}, {"tie_output": False, "final_logits_bias": True}],
)
def test_cached_decoding_equals_full_recomputation(overrides):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(**overrides)).eval()
    source, lengths, target = batch()
    full = model(source, lengths, target)  # (B, T, V)
    cache = model.start_decoding(model.encode(source, lengths))
    first = model.decode_step(target[:, :2], cache)  # a 2-token prefix fed at once
    steps = [first] + [model.decode_step(target[:, t : t + 1], cache) for t in range(2, 7)]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 1:], rtol=1e-4, atol=1e-4)


def test_future_tokens_do_not_change_past_logits(tiny_model):
    source, lengths, target = batch()
    changed = target.clone()
    changed[:, 4:] = torch.randint(4, 500, changed[:, 4:].shape)
    a = tiny_model(source, lengths, target)
    b = tiny_model(source, lengths, changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_source_padding_is_invisible(tiny_model):
    source, lengths, target = batch()
    padded = torch.cat([source, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    padded[2, 2:] = 0
    torch.testing.assert_close(
        tiny_model(source, lengths, target), tiny_model(padded, lengths, target), rtol=1e-5, atol=1e-5
    )


def test_encoder_is_bidirectional(tiny_model):
    source, lengths, _ = batch()
    memory = tiny_model.encode(source, lengths).memory
    changed = source.clone()
    changed[0, 8] = (changed[0, 8] + 1) % 500 + 4
    memory2 = tiny_model.encode(changed, lengths).memory
    assert not torch.allclose(memory[0, 0], memory2[0, 0])  # the first position sees the last


def test_output_projection_tied_to_target_embedding():
    model = Seq2Seq(tiny_config())
    assert model.decoder.unembed.weight is model.decoder.embedding.tokens.weight
    assert model.encoder.embedding.tokens is model.decoder.embedding.tokens
    untied = Seq2Seq(tiny_config(tie_output=False, share_embeddings=False, source_vocab_size=300))
    assert untied.decoder.unembed.weight is not untied.decoder.embedding.tokens.weight
    assert untied.encoder.embedding.tokens.weight.shape == (300, 32)


def test_config_rejects_inconsistent_vocabularies():
    with pytest.raises(ValueError, match="share_embeddings"):
        tiny_config(source_vocab_size=300)


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(vocab_size=50, d_model=64, ffn_dim=128))
    source, lengths, target = batch(vocab=50)
    target_in, labels = target[:, :-1], target[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        logits = model(source, lengths, target_in)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    assert (model(source, lengths, target_in).argmax(-1) == labels).all()


def test_positions_beyond_limit_raise(tiny_model):
    source, lengths, _ = batch()
    with pytest.raises(ValueError, match="max_positions"):
        tiny_model(source, lengths, torch.ones(3, 200, dtype=torch.long))
