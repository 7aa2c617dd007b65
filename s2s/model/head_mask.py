"""Head masking, an option of every model: switch single attention heads off without touching weights.

A head is named ``kind:layer:head``, numbered from 1 as in the report: ``encoder:2:3`` is the third
head of the second encoder layer's self-attention; the kinds are ``encoder`` and ``decoder``
(self-attention) and ``cross`` (cross-attention). A mask is a factor per head on that head's output,
before ``Wo`` (``MultiHeadAttention.head_mask``): 0 removes the head's contribution, 1 keeps it, and
a module with no mask runs exactly as before. Analysis (the importance of each head), evaluation
(``--mask-heads``) and pruning (which removes the same heads for good) all go through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

from s2s.errors import ConfigError
from s2s.nn.attention import MultiHeadAttention

if TYPE_CHECKING:
    from s2s.model.seq2seq import Seq2Seq
    from s2s.nn.layers import DecoderLayer, EncoderLayer

KINDS = ("encoder", "decoder", "cross")


@dataclass(frozen=True, order=True)
class HeadId:
    """One head: attention kind, layer and head, both 1-based."""

    kind: str
    layer: int
    head: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.layer}:{self.head}"

    @property
    def module(self) -> tuple[str, int]:
        return self.kind, self.layer

    def sort_key(self) -> tuple[int, int, int]:
        return KINDS.index(self.kind), self.layer, self.head


def attention_modules(model: Seq2Seq) -> dict[tuple[str, int], MultiHeadAttention]:
    """``(kind, layer)`` -> the attention module, for a :class:`s2s.model.seq2seq.Seq2Seq`."""
    encoder_layers = cast("Iterable[EncoderLayer]", model.encoder.stack.layers)
    modules = {("encoder", i): layer.self_attn for i, layer in enumerate(encoder_layers, start=1)}
    for i, layer in enumerate(cast("Iterable[DecoderLayer]", model.decoder.layers), start=1):
        modules[("decoder", i)] = layer.self_attn
        modules[("cross", i)] = layer.cross_attn
    return dict(sorted(modules.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])))


def all_heads(model: Seq2Seq) -> list[HeadId]:
    return [
        HeadId(kind, layer, h + 1) for (kind, layer), m in attention_modules(model).items() for h in range(m.num_heads)
    ]


def parse_head(text: str) -> HeadId:
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] not in KINDS or not parts[1].isdigit() or not parts[2].isdigit():
        raise ConfigError(
            f"head {text!r}: write kind:layer:head with kind one of {', '.join(KINDS)} and the layer "
            f"and head numbered from 1, e.g. encoder:2:3"
        )
    return HeadId(parts[0], int(parts[1]), int(parts[2]))


def parse_heads(spec: str | Sequence[str], model: Seq2Seq | None = None) -> list[HeadId]:
    """``"encoder:1:2,cross:3:1"`` (or a list of such names) -> sorted unique :class:`HeadId`;
    with ``model``, every head must exist in it."""
    texts = spec.replace(",", " ").split() if isinstance(spec, str) else [t for s in spec for t in s.split(",")]
    heads = sorted({parse_head(t) for t in texts if t.strip()}, key=HeadId.sort_key)
    if model is not None:
        modules = attention_modules(model)
        for h in heads:
            module = modules.get(h.module)
            if module is None or not 1 <= h.head <= module.num_heads:
                size = f"{module.num_heads} heads" if module is not None else "no such layer"
                raise ConfigError(f"head {h}: this model has no such head ({h.kind} layer {h.layer}: {size})")
    return heads


def set_head_mask(model: Seq2Seq, masked: Iterable[HeadId]) -> None:
    """Mask exactly the heads in ``masked`` (0 on their output); every other module runs unmasked."""
    masked = set(masked)
    for (kind, layer), module in attention_modules(model).items():
        off = [h.head - 1 for h in masked if h.module == (kind, layer)]
        if not off:
            module.head_mask = None
            continue
        mask = torch.ones(module.num_heads, device=module.out_proj.weight.device)
        mask[off] = 0.0
        module.head_mask = mask


@contextmanager
def masked_heads(model: Seq2Seq, masked: Iterable[HeadId]) -> Iterator[None]:
    """``set_head_mask`` inside the block; the masks the model had before are restored after."""
    modules = attention_modules(model)
    before = {key: m.head_mask for key, m in modules.items()}
    set_head_mask(model, masked)
    try:
        yield
    finally:
        for key, m in modules.items():
            m.head_mask = before[key]


@contextmanager
def gradient_masks(model: Seq2Seq) -> Iterator[dict[tuple[str, int], Tensor]]:
    """Every module's mask as a tensor of ones that requires grad (Michel et al.'s ``ξ_h``): after a
    backward pass, ``mask.grad[h]`` is ``∂loss/∂ξ_h``. Restores the previous masks after."""
    modules = attention_modules(model)
    before = {key: m.head_mask for key, m in modules.items()}
    masks = {
        key: torch.ones(m.num_heads, device=m.out_proj.weight.device, requires_grad=True) for key, m in modules.items()
    }
    for key, m in modules.items():
        m.head_mask = masks[key]
    try:
        yield masks
    finally:
        for key, m in modules.items():
            m.head_mask = before[key]
