"""Head masking (a masked head adds nothing; no mask is the model itself) and pruning (= masking, smaller)."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from s2s.checkpoint import export_checkpoint, load_checkpoint
from s2s.decoding import DecodingOptions, generate
from s2s.errors import ConfigError
from s2s.model.head_mask import HeadId, all_heads, attention_modules, masked_heads, parse_heads, set_head_mask
from s2s.model.info import CheckpointInfo
from s2s.model.pruning import original_names, prune_heads
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config

MASKED = [
    HeadId("encoder", 1, 2),
    HeadId("decoder", 2, 1),
    HeadId("cross", 1, 4),
    HeadId("cross", 2, 1),
    HeadId("cross", 2, 3),
]


def model_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    model = Seq2Seq(tiny_config()).eval()
    source = torch.randint(4, 500, (3, 9))
    lengths = torch.tensor([9, 6, 4])
    target_in = torch.randint(4, 500, (3, 7))
    return model, source, lengths, target_in


@torch.no_grad()
def logits(model, source, lengths, target_in):
    return model(source, lengths, target_in)


def test_no_mask_and_all_ones_equal_the_model_bit_for_bit():
    model, *batch = model_and_batch()
    plain = logits(model, *batch)
    with masked_heads(model, []):
        assert all(m.head_mask is None for m in attention_modules(model).values())
        assert torch.equal(logits(model, *batch), plain)
    for m in attention_modules(model).values():
        m.head_mask = torch.ones(m.num_heads)
    assert torch.equal(logits(model, *batch), plain)


def test_a_masked_head_contributes_nothing():
    model, *batch = model_and_batch()
    with masked_heads(model, MASKED):
        masked = logits(model, *batch)
        # whatever the masked heads compute, the output stays: scramble their Wq, Wk, Wv
        modules = attention_modules(model)
        with torch.no_grad():
            for h in MASKED:
                m = modules[h.module]
                rows = slice((h.head - 1) * m.head_dim, h.head * m.head_dim)
                for proj in (m.q_proj, m.k_proj, m.v_proj):
                    proj.weight[rows] = torch.randn_like(proj.weight[rows]) * 5
        assert torch.equal(logits(model, *batch), masked)
    # and the same as zeroing the head's columns of Wo by hand, with no mask at all
    reference, *_ = model_and_batch()
    with torch.no_grad():
        for h in MASKED:
            m = attention_modules(reference)[h.module]
            m.out_proj.weight[:, (h.head - 1) * m.head_dim : h.head * m.head_dim] = 0
    torch.testing.assert_close(logits(reference, *batch), masked, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(logits(model_and_batch()[0], *batch), masked, atol=1e-3)  # masking changed something


def test_masks_are_restored_and_names_checked():
    model, *_ = model_and_batch()
    set_head_mask(model, [HeadId("encoder", 1, 1)])
    with masked_heads(model, MASKED):
        pass
    modules = attention_modules(model)
    assert modules[("encoder", 1)].head_mask.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert modules[("cross", 2)].head_mask is None
    assert parse_heads("cross:2:1, encoder:1:2 cross:2:1", model) == [HeadId("encoder", 1, 2), HeadId("cross", 2, 1)]
    for bad in ("encoder:3:1", "cross:1:5", "enc:1:1", "encoder-1-1", "decoder:0:1"):
        with pytest.raises(ConfigError):
            parse_heads(bad, model)
    assert len(all_heads(model)) == 2 * 3 * 4


def test_pruned_model_equals_the_masked_model_in_training_and_decoding(tmp_path, tokenizer):
    model, source, lengths, target_in = model_and_batch()
    pruned = copy.deepcopy(model)
    prune_heads(pruned, MASKED)
    assert pruned.decoder.layers[1].cross_attn.num_heads == 2
    assert pruned.decoder.layers[1].cross_attn.q_proj.weight.shape == (16, 32)
    assert pruned.decoder.layers[1].cross_attn.out_proj.weight.shape == (32, 16)
    assert pruned.num_parameters() < model.num_parameters()
    with masked_heads(model, MASKED):
        expected = logits(model, source, lengths, target_in)
        torch.testing.assert_close(logits(pruned, source, lengths, target_in), expected, rtol=1e-5, atol=1e-5)
        prefix = torch.ones(3, 1, dtype=torch.long)
        for beam in (1, 3):  # the cached, grouped decoding path too
            options = DecodingOptions(beam_size=beam, max_len_a=0, max_len_b=8)
            ours = generate(pruned, source, lengths, prefix, options=options, eos_id=2, suppress_ids=[0])
            theirs = generate(model, source, lengths, prefix, options=options, eos_id=2, suppress_ids=[0])
            assert [h[0].tokens for h in ours] == [h[0].tokens for h in theirs]
    # the checkpoint records the removed heads and loads as the pruned model
    names = original_names(model, MASKED)
    pruned.config = dataclasses.replace(model.config, pruned_heads=tuple(names))
    export_checkpoint(pruned, tokenizer, CheckpointInfo(), tmp_path / "pruned.pt")
    loaded = load_checkpoint(tmp_path / "pruned.pt")
    assert loaded.model.config.pruned_heads == tuple(names)
    torch.testing.assert_close(logits(loaded.model, source, lengths, target_in), expected, rtol=1e-5, atol=1e-5)


def test_pruning_again_keeps_the_original_numbering():
    model, *_ = model_and_batch()
    prune_heads(model, [HeadId("cross", 1, 2)])
    model.config = dataclasses.replace(model.config, pruned_heads=("cross:1:2",))
    # current cross 1 heads are original 1, 3, 4: current head 2 is original head 3
    assert original_names(model, [HeadId("cross", 1, 2)]) == ["cross:1:2", "cross:1:3"]


def test_pruning_every_head_of_a_module_is_refused():
    model, *_ = model_and_batch()
    with pytest.raises(ConfigError, match="keep at least one"):
        prune_heads(model, [HeadId("decoder", 1, h) for h in range(1, 5)])
