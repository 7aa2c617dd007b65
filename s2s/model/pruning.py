"""Remove attention heads for good: smaller ``Wq Wk Wv`` (fewer output rows) and ``Wo`` (fewer input columns).

A removed head's output is exactly what masking it gives (``s2s.model.head_mask``): its slice of
``Wo``'s input is gone, so it adds nothing. The checkpoint records the removed heads, in the
numbering of the unpruned model, as ``ModelConfig.pruned_heads``; building a model from that
config removes them again (before the weights are loaded), so every command loads a pruned
checkpoint like any other. A pruned model's heads are renumbered 1..kept in each module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from s2s.errors import ConfigError
from s2s.model.head_mask import HeadId, attention_modules, parse_heads
from s2s.nn.attention import MultiHeadAttention
from s2s.nn.linear import Linear

if TYPE_CHECKING:
    from s2s.model.seq2seq import Seq2Seq


def sliced(layer: nn.Linear, index: Tensor, dim: int) -> Linear:
    """A new ``Linear`` with the rows (``dim=0``: outputs) or columns (``dim=1``: inputs) ``index`` of ``layer``."""
    weight = layer.weight.detach().index_select(dim, index)  # (out, in) with one side cut
    out_features, in_features = weight.shape
    new = Linear(in_features, out_features, bias=layer.bias is not None, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias.detach().index_select(0, index) if dim == 0 else layer.bias.detach())
    return new


def keep_heads(module: MultiHeadAttention, keep: Sequence[int]) -> None:
    """Keep only the heads ``keep`` (0-based, in order) of ``module``."""
    dh = module.head_dim
    rows = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in keep]).to(module.q_proj.weight.device)
    module.q_proj = sliced(module.q_proj, rows, 0)
    module.k_proj = sliced(module.k_proj, rows, 0)
    module.v_proj = sliced(module.v_proj, rows, 0)
    module.out_proj = sliced(module.out_proj, rows, 1)
    if module.head_mask is not None:
        module.head_mask = module.head_mask[list(keep)]
    module.num_heads = len(keep)


def prune_heads(model: Seq2Seq, heads: Iterable[HeadId] | Sequence[str]) -> None:
    """Remove ``heads`` (named in the model's current numbering) from ``model``, in place.

    Every attention module keeps at least one head: a module with none would add only ``Wo``'s
    bias, which is masking, not a smaller model.
    """
    heads = [h if isinstance(h, HeadId) else parse_heads(h)[0] for h in heads]
    modules = attention_modules(model)
    for h in heads:
        if h.module not in modules or not 1 <= h.head <= modules[h.module].num_heads:
            raise ConfigError(f"head {h}: this model has no such head")
    for key, module in modules.items():
        removed = {h.head - 1 for h in heads if h.module == key}
        if not removed:
            continue
        keep = [h for h in range(module.num_heads) if h not in removed]
        if not keep:
            raise ConfigError(f"pruning would remove every head of {key[0]} layer {key[1]}: keep at least one")
        keep_heads(module, keep)


def original_names(model: Seq2Seq, heads: Iterable[HeadId]) -> list[str]:
    """Names of ``heads`` (current numbering) in the numbering of the unpruned model, with the heads
    the model was already pruned of: the ``pruned_heads`` of the model that results."""
    already = {str(h) for h in parse_heads(list(model.config.pruned_heads or ()))}
    result = set(already)
    for key, module in attention_modules(model).items():
        gone = sorted(int(n.split(":")[2]) for n in already if tuple(n.split(":")[:2]) == (key[0], str(key[1])))
        original = [
            h for h in range(1, module.num_heads + len(gone) + 1) if h not in gone
        ]  # current j -> original[j-1]
        result.update(f"{key[0]}:{key[1]}:{original[h.head - 1]}" for h in heads if h.module == key)
    return [str(h) for h in parse_heads(sorted(result))]
