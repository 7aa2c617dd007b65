"""Audio encoder: exact subsampled lengths and masks, batch independence, cached == recomputed."""

from __future__ import annotations

import pytest
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config


def audio_model(vocab_size: int = 40, **overrides) -> Seq2Seq:
    torch.manual_seed(0)
    values = dict(encoder="audio", conv_channels=8, ctc=True, max_positions=256)
    values.update(overrides)
    return Seq2Seq(tiny_config(vocab_size, **values)).eval()


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_subsampled_lengths_and_mask_match_the_convolutions(factor):
    model = audio_model(subsampling=factor)
    encoder = model.encoder
    lengths = torch.tensor([200, 131, 64, 15, 7, 3, 1])
    feats = torch.randn(len(lengths), 200, 80)
    encoded = model.encode(feats, lengths)
    memory, mask = encoded.memory, encoded.mask
    expected = encoder.output_lengths(lengths)
    assert torch.equal(mask.sum(dim=1), expected)
    assert mask.shape[1] == memory.shape[1] == expected.max()
    assert bool(mask[:, :1].all())  # even the shortest input keeps one position
    for length, out in zip(lengths.tolist(), expected.tolist()):
        alone = encoder.subsample(torch.zeros(1, max(length, encoder.subsample.min_frames), 80))
        assert alone.shape[1] == out  # the formula is what the convolutions produce
        if factor == 4 and length >= 7:
            assert out == ((length - 3) // 2 + 1 - 3) // 2 + 1


def test_an_utterance_encodes_the_same_alone_and_in_a_batch():
    model = audio_model()
    lengths = torch.tensor([157, 90, 31, 5])
    feats = torch.randn(4, 157, 80) * 3 - 5
    padded = feats.clone()
    for i, n in enumerate(lengths.tolist()):
        padded[i, n:] = 123.0  # whatever the padding holds must not matter
    together = model.encode(padded, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = model.encode(feats[i : i + 1, :n], lengths[i : i + 1])
        m = int(alone.lengths)
        assert torch.allclose(together.memory[i, :m], alone.memory[0, :m], atol=1e-5)


def test_cached_decoding_equals_recomputation_for_audio():
    model = audio_model()
    feats, lengths = torch.randn(3, 120, 80), torch.tensor([120, 77, 40])
    target = torch.randint(4, 40, (3, 9))
    full = model(feats, lengths, target)  # (B, T, V) teacher forcing, no cache
    cache = model.start_decoding(model.encode(feats, lengths))
    steps = [model.decode_step(target[:, :3], cache)]  # a forced prefix of 3, then one token at a time
    steps += [model.decode_step(target[:, t : t + 1], cache) for t in range(3, 9)]
    cached = torch.stack(steps, dim=1)  # (B, 7, V)
    assert torch.allclose(cached, full[:, 2:], atol=1e-4)


def test_feature_statistics_travel_in_the_checkpoint(tmp_path, tokenizer):
    model = audio_model(vocab_size=tokenizer.vocab_size)
    mean, std = torch.linspace(-8, 2, 80), torch.linspace(1, 3, 80)
    model.encoder.set_feature_stats(mean.tolist(), std.tolist())
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr"), tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path / "model.pt")
    assert torch.equal(loaded.model.encoder.feature_mean, mean)
    assert torch.equal(loaded.model.encoder.feature_std, std)
    feats, lengths = torch.randn(2, 50, 80), torch.tensor([50, 30])
    assert torch.allclose(loaded.model.encode(feats, lengths).memory, model.encode(feats, lengths).memory)


def test_config_validation():
    with pytest.raises(ValueError, match="power of two"):
        tiny_config(encoder="audio", subsampling=3)
    with pytest.raises(ValueError, match="encoder must be"):
        tiny_config(encoder="video")
    with pytest.raises(ValueError, match="no CTC head"):
        Seq2Seq(tiny_config(encoder="audio", conv_channels=4)).ctc_log_probs(torch.zeros(1, 2, 32))
