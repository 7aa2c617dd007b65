import torch

from s2s.nn.attention import MultiHeadAttention, causal_mask, padding_mask


def test_padding_mask_marks_real_positions():
    mask = padding_mask(torch.tensor([3, 1]), 4)
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]


def test_causal_mask_with_cache_offset():
    # two new queries at positions 3 and 4 of 5: each sees itself and the past only
    assert causal_mask(2, 5, torch.device("cpu")).tolist() == [
        [True, True, True, True, False],
        [True, True, True, True, True],
    ]


def test_recorded_weights_match_kernel_output():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    k, v = attn.project_kv(x)
    mask = padding_mask(torch.tensor([5, 3]))[:, None, None, :]
    fast = attn(x, k, v, mask=mask, is_causal=False)
    attn.record_weights = True
    slow = attn(x, k, v, mask=mask)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    weights = attn.last_weights  # (B, H, Tq, Tk)
    assert weights.shape == (2, 4, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 5))
    assert weights[1, :, :, 3:].abs().max() == 0  # padded keys get no attention


def test_head_dim_must_divide():
    import pytest

    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, 3)


def test_bf16_training_attention_stays_close_to_fp32_and_backpropagates():
    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4).train()
    x = torch.randn(2, 6, 32, requires_grad=True)
    reference = attn(x, *attn.project_kv(x), is_causal=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the kernel itself runs in fp32 (its bf16 backward is slow)
        out = attn(x, *attn.project_kv(x), is_causal=True)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference, rtol=0.05, atol=0.05)
    out.float().sum().backward()
    assert torch.isfinite(x.grad).all() and attn.q_proj.weight.grad is not None
