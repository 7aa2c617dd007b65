"""AudioEncoder: global normalization, convolutional subsampling, then the bidirectional stack.

Log-mel frames ``(B, F, 80)`` are normalized with the training set's statistics (buffers, so
they travel in the checkpoint), shortened ``subsampling`` times by stride-2 convolutions, and
fed to the same :class:`EncoderStack` as text. The padding mask follows the subsampled
lengths exactly: with kernel 3, stride 2 and no padding, output frame ``j`` reads input frames
``2j .. 2j+2``, so a real output frame never sees a padded input frame and an utterance
encodes the same alone or in any batch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from s2s.model.config import ModelConfig
from s2s.model.encoder_stack import EncoderStack
from s2s.nn.attention import padding_mask
from s2s.nn.dropout import Dropout
from s2s.nn.embeddings import PositionEncoding
from s2s.nn.linear import Linear

KERNEL, STRIDE = 3, 2


def conv_length(length: Tensor | int) -> Tensor | int:
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

    def forward(self, feats: Tensor) -> Tensor:
        x = self.conv(feats.unsqueeze(1))  # (B, C, F', feature_dim')
        b, c, frames, freq = x.shape
        return self.out(x.transpose(1, 2).reshape(b, frames, c * freq))  # (B, F', D)


class AudioEncoder(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))  # set from cmvn.json at training
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.subsample = ConvSubsampling(config.feature_dim, config.d_model, config.subsampling, config.conv_channels)
        self.positions = PositionEncoding(config.d_model, config.max_positions, learned=config.learned_positions)
        self.scale = math.sqrt(config.d_model) if config.embed_scale else 1.0
        self.dropout = Dropout(config.dropout)
        self.stack = EncoderStack(config)

    @torch.no_grad()
    def set_feature_stats(self, mean: list[float], std: list[float]) -> None:
        self.feature_mean.copy_(torch.tensor(mean))
        self.feature_std.copy_(torch.tensor(std))

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Encoder positions of inputs of ``lengths`` frames (short inputs are extended to ``min_frames``)."""
        return self.subsample.output_lengths(lengths.clamp(min=self.subsample.min_frames))

    def forward(self, feats: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``feats (B, F, feature_dim)`` raw log-mel, ``lengths (B,)`` frames -> memory ``(B, F', D)``, mask ``(B, F')``."""
        x = (feats - self.feature_mean) / self.feature_std  # (B, F, feature_dim), mean 0 / unit variance
        x = x * padding_mask(lengths, x.shape[1])[:, :, None]  # padded frames are exactly 0 (the mean)
        # An input shorter than the convolutions' receptive field is extended with silence (0),
        # the same way alone or in a batch.
        if x.shape[1] < self.subsample.min_frames:
            x = nn.functional.pad(x, (0, 0, 0, self.subsample.min_frames - x.shape[1]))
        x = self.subsample(x)  # (B, F', D)
        out_lengths = self.output_lengths(lengths)
        mask = padding_mask(out_lengths, x.shape[1])  # (B, F') True on real positions
        x = x * self.scale + self.positions(x.shape[1]).to(x.dtype)
        return self.stack(self.dropout(x), mask), mask
