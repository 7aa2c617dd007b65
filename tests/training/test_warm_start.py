"""Warm start copies exactly the chosen parts, keeps the new data's feature statistics, and
refuses a source whose tensors do not fit."""

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.errors import ConfigError
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from s2s.training.warm_start import warm_start
from tests.conftest import tiny_config


def model(seed: int, **overrides) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**overrides))


def saved(tmp_path, tokenizer, source: Seq2Seq):
    path = tmp_path / "source.pt"
    export_checkpoint(source, tokenizer, CheckpointInfo(tgt_langs=("de",)), path)
    return path


def audio_model(seed: int) -> Seq2Seq:
    m = model(seed, encoder="audio", ctc=True, conv_channels=16)
    m.encoder.set_feature_stats([float(seed)] * 80, [1.0 + seed] * 80)
    return m


def test_only_the_chosen_part_is_copied_and_the_feature_statistics_stay(tmp_path, tokenizer):
    source, target = audio_model(1), audio_model(2)
    decoder_before = {k: v.clone() for k, v in target.decoder.state_dict().items()}
    ctc_before = target.ctc.weight.clone()
    message = warm_start(target, saved(tmp_path, tokenizer, source), ["encoder"])
    assert message.startswith("warm start: encoder (")
    for name, value in source.encoder.state_dict().items():
        if name in ("feature_mean", "feature_std"):
            assert not torch.equal(target.encoder.state_dict()[name], value)  # the new data's own
        else:
            assert torch.equal(target.encoder.state_dict()[name], value), name
    assert all(torch.equal(target.decoder.state_dict()[k], v) for k, v in decoder_before.items())
    assert torch.equal(target.ctc.weight, ctc_before)
    warm_start(target, tmp_path / "source.pt", ["decoder", "ctc"])
    assert torch.equal(target.ctc.weight, source.ctc.weight)
    assert all(torch.equal(target.decoder.state_dict()[k], v) for k, v in source.decoder.state_dict().items())


def test_the_warm_started_encoder_encodes_as_the_source_did(tmp_path, tokenizer):
    source, target = model(1), model(2)
    warm_start(target, saved(tmp_path, tokenizer, source), ["encoder"])
    ids, lengths = torch.randint(4, 500, (2, 7)), torch.tensor([7, 5])
    with torch.no_grad():
        assert torch.equal(source.eval().encode(ids, lengths).memory, target.eval().encode(ids, lengths).memory)


@pytest.mark.parametrize(
    "overrides,parts,message",
    [
        ({"d_model": 64}, ["encoder"], "is (500, 32), not (500, 64)"),
        ({"encoder_layers": 3}, ["encoder"], "encoder.stack.layers.2.self_attn.q_proj.weight is missing"),
        ({}, ["wings"], "must name some of encoder, decoder, ctc"),
        ({}, ["ctc"], "has no ctc"),
    ],
)
def test_a_source_that_does_not_fit_is_refused_by_name(tmp_path, tokenizer, overrides, parts, message):
    path = saved(tmp_path, tokenizer, model(1))
    target = model(2, **overrides)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ConfigError) as error:
        warm_start(target, path, parts)
    assert message in str(error.value)
    assert all(torch.equal(target.state_dict()[k], v) for k, v in before.items())  # nothing half-copied
