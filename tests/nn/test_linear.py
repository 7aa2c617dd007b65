"""Packed inference linear layers: the same numbers as ``F.linear``, used only where they apply, never stale."""

import pytest
import torch
import torch.nn.functional as F

from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.nn import linear as packed
from s2s.nn.linear import Linear, fused_linear, linear, packs, prepacking
from s2s.training.lit_module import Seq2SeqModule
from s2s.training.optim import OptimConfig, build_optimizer

pytestmark = pytest.mark.skipif(not packed.AVAILABLE, reason="this torch has no oneDNN")


def test_same_as_f_linear_for_every_input_shape():
    torch.manual_seed(0)
    layer = Linear(64, 300)
    for x in (
        torch.randn(5, 64),
        torch.randn(3, 7, 64),
        torch.randn(7, 3, 64).transpose(0, 1),
        torch.randn(4, 9, 64)[:, -1],
        torch.randn(0, 64),
    ):
        with torch.no_grad():
            assert packs(x, layer.weight)
            torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert linear(torch.randn(2, 64), layer.weight, None).shape == (2, 300)


@pytest.mark.skipif(torch.bfloat16 not in packed.PACKED_DTYPES, reason="oneDNN has no bf16 on this CPU")
def test_bf16_packs_too_with_f_linear_numbers():
    torch.manual_seed(0)
    layer = Linear(64, 300).bfloat16()
    with torch.no_grad():
        for x in (torch.randn(5, 64), torch.randn(3, 7, 64), torch.randn(160, 64)):
            x = x.bfloat16()
            assert packs(x, layer.weight)
            out = layer(x)
            assert out.dtype == torch.bfloat16
            torch.testing.assert_close(out, F.linear(x, layer.weight, layer.bias))
        assert not packs(torch.randn(2, 64), layer.weight)  # fp32 input, bf16 weight: F.linear decides


def test_training_mixed_dtypes_autocast_and_opt_out_take_the_ordinary_path():
    layer = Linear(8, 4)
    x = torch.randn(2, 8)
    assert not packs(x, layer.weight)  # gradients on: training
    out = layer(x)
    out.sum().backward()
    assert layer.weight.grad is not None
    with torch.no_grad():
        assert not packs(x.bfloat16(), layer.weight)  # mixed dtypes
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not packs(x, layer.weight)
            assert layer(x).dtype == torch.bfloat16
        with prepacking(False):
            assert not packs(x, layer.weight)
        assert packs(x, layer.weight)


def test_the_packed_copy_follows_every_change_of_the_weight():
    torch.manual_seed(0)
    layer = Linear(16, 8)
    x = torch.randn(3, 16)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1)
    with torch.no_grad():
        before = layer(x)
    layer(x).sum().backward()
    optimizer.step()  # in place
    with torch.no_grad():
        after_step = layer(x)
        assert not torch.allclose(before, after_step)
        torch.testing.assert_close(after_step, F.linear(x, layer.weight, layer.bias))
        layer.load_state_dict(Linear(16, 8).state_dict())  # copied in place
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
        layer.weight.mul_(2)
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_state_dict_and_copies_are_ordinary():
    import copy

    layer = Linear(16, 8)
    with torch.no_grad():
        layer(torch.randn(2, 16))  # packs
    assert set(layer.state_dict()) == {"weight", "bias"}
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.weight.add_(1)
        x = torch.randn(2, 16)
        torch.testing.assert_close(twin(x), F.linear(x, twin.weight, twin.bias))
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_validation_decodes_with_the_weights_a_fused_optimizer_just_changed():
    """Fused AdamW updates weights without bumping their version, which the packed cache keys on:
    a validation round must not decode with the copies packed at the round before."""
    torch.manual_seed(0)
    module = Seq2SeqModule(
        model_config=ModelConfig(
            vocab_size=50,
            pad_id=0,
            d_model=16,
            num_heads=2,
            encoder_layers=1,
            decoder_layers=1,
            ffn_dim=32,
            dropout=0.0,
        ),
        tokenizer=None,
        optim=OptimConfig(lr=0.05),
        decoding=None,
        info=CheckpointInfo(),
    )
    model, x = module.model, torch.randn(3, 16)
    fc1 = model.decoder.layers[0].ffn.fc1
    attention = model.decoder.layers[0].self_attn  # its query/key/value weights are multiplied as one stacked copy
    projections = (attention.q_proj, attention.k_proj, attention.v_proj)
    optimizer = build_optimizer(model, OptimConfig(lr=0.05), fused=True)[0]
    for _ in range(2):  # a validation round, then training steps, then the next round
        module.on_validation_epoch_start()
        with torch.no_grad():
            torch.testing.assert_close(fc1(x), F.linear(x, fc1.weight, fc1.bias))
            for part, layer in zip(fused_linear(x, projections), projections, strict=True):
                torch.testing.assert_close(part, F.linear(x, layer.weight, layer.bias))
        (fc1(x).square().sum() + sum(part.square().sum() for part in fused_linear(x, projections))).backward()
        optimizer.step()
        optimizer.zero_grad()


def test_fused_layers_give_each_layer_its_own_product_and_gradients():
    torch.manual_seed(0)
    layers = (Linear(16, 8), Linear(16, 24), Linear(16, 8, bias=False))
    x = torch.randn(2, 5, 16, requires_grad=True)

    def separately(x):
        return [F.linear(x, layer.weight, layer.bias) for layer in layers]

    with torch.no_grad():
        for _ in range(2):  # stacked once, then reused
            for fused, alone in zip(fused_linear(x, layers), separately(x), strict=True):
                torch.testing.assert_close(fused, alone, rtol=1e-5, atol=1e-5)
        layers[1].weight.mul_(2)  # a changed part is stacked again
        torch.testing.assert_close(fused_linear(x, layers)[1], separately(x)[1], rtol=1e-5, atol=1e-5)
    leaves = [x, *(t for layer in layers for t in layer.parameters())]

    def gradients(parts) -> list[torch.Tensor]:
        for leaf in leaves:
            leaf.grad = None
        sum((part * torch.arange(part.numel()).view_as(part).sin()).sum() for part in parts).backward()
        return [leaf.grad for leaf in leaves]

    # training: gradients reach every layer's own parameters
    for fused, alone in zip(gradients(fused_linear(x, layers)), gradients(separately(x)), strict=True):
        torch.testing.assert_close(fused, alone, rtol=1e-5, atol=1e-5)
