"""EncodedSource: what the decoder reads of a source, computed once per batch."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class EncodedSource:
    """The encoder's output as every consumer needs it: the decoder's cross-attention, the CTC head,
    the decoding loop's length limits. Nothing downstream recomputes any of it.

    ``cross`` holds each decoder layer's cross-attention keys and values ``(B, H, S, Dh)``, projected
    once from ``memory`` and stored in the attention kernel's dtype (``nn.attention.kernel_dtype``).
    """

    memory: Tensor  # (B, S, D)
    mask: Tensor  # (B, S) True on real source positions
    lengths: Tensor  # (B,) real positions per source, after the encoder's subsampling
    cross: tuple[tuple[Tensor, Tensor], ...]  # per decoder layer: keys, values (B, H, S, Dh)
