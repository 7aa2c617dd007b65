"""The convolutions that shorten log-mel frames before an audio encoder's Transformer layers.

``ConvSubsampling`` (ours, ESPnet's layout): stride-2 Conv2d+ReLU layers over (time, frequency)
with kernel 3 and no padding, so output frame ``j`` reads input frames ``2j .. 2j+2`` and a real
output never sees a padded input. ``Conv1dFrontEnd`` (Whisper's): Conv1d+GELU with stride 1,
then stride 2, both padded by one frame; it is exact under padding because the frames past each
utterance's end are zeroed before each convolution, which is what its own zero padding reads
when the utterance is alone.
"""

from __future__ import annotations

import math
from typing import TypeVar

from torch import Tensor, nn

from s2s.nn.attention import padding_mask
from s2s.nn.linear import Linear

KERNEL, STRIDE = 3, 2
LengthT = TypeVar("LengthT", int, Tensor)  # one length, or a (B,) tensor of them


def conv_length(length: LengthT) -> LengthT:
    """Output length of one kernel-3, stride-2, unpadded convolution."""
    return (length - KERNEL) // STRIDE + 1


class ConvSubsampling(nn.Module):
    """``(B, F, feature_dim)`` -> ``(B, F', D)`` with ``log2(factor)`` Conv2d+ReLU layers over (time, frequency)."""

    def __init__(self, feature_dim: int, d_model: int, factor: int, channels: int) -> None:
        super().__init__()
        self.num_layers = int(math.log2(factor))
        layers: list[nn.Module] = []
        freq = feature_dim
        for i in range(self.num_layers):
            layers += [nn.Conv2d(1 if i == 0 else channels, channels, KERNEL, STRIDE), nn.ReLU()]
            freq = conv_length(freq)
        self.conv = nn.Sequential(*layers)
        self.out = Linear((channels if self.num_layers else 1) * freq, d_model)
        self.min_frames = self.frames_needed(1)

    def frames_needed(self, positions: int) -> int:
        """Input frames that give ``positions`` output positions."""
        frames = positions
        for _ in range(self.num_layers):
            frames = (frames - 1) * STRIDE + KERNEL
        return frames

    def output_lengths(self, lengths: Tensor) -> Tensor:
        for _ in range(self.num_layers):
            lengths = conv_length(lengths)
        return lengths

    def forward(self, feats: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``feats (B, F, feature_dim)`` -> ``(B, F', D)``; unpadded convolutions need no ``lengths``."""
        x = self.conv(feats.unsqueeze(1))  # (B, C, F', feature_dim')
        b, c, frames, freq = x.shape
        return self.out(x.transpose(1, 2).reshape(b, frames, c * freq))  # (B, F', D)


class Conv1dFrontEnd(nn.Module):
    """``(B, F, feature_dim)`` -> ``(B, ceil(F / 2), D)``: ``GELU(conv2(GELU(conv1(x))))``, conv2 with stride 2."""

    min_frames = 1

    def __init__(self, feature_dim: int, d_model: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(feature_dim, d_model, KERNEL, padding=1)
        self.conv2 = nn.Conv1d(d_model, d_model, KERNEL, stride=STRIDE, padding=1)
        self.gelu = nn.GELU()

    @staticmethod
    def frames_needed(positions: int) -> int:
        return positions * STRIDE

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        return (lengths - 1) // STRIDE + 1

    def forward(self, feats: Tensor, lengths: Tensor) -> Tensor:
        """``feats (B, F, feature_dim)``, zero past each length -> ``(B, F', D)``."""
        x = self.gelu(self.conv1(feats.transpose(1, 2)))  # (B, D, F)
        x = x * padding_mask(lengths, x.shape[2])[:, None, :]  # what conv2's padding reads for an utterance alone
        return self.gelu(self.conv2(x)).transpose(1, 2)  # (B, F', D)
