"""AudioEncoder: global normalization, convolutional subsampling, then the bidirectional stack.

Log-mel frames ``(B, F, feature_dim)`` are normalized with the training set's statistics (buffers,
so they travel in the checkpoint; Whisper's fixed ``(x + 4) / 4`` is the same operation),
shortened by the convolutions of ``s2s.model.audio_frontends``, and fed to the same
:class:`EncoderStack` as text. The padding mask follows the subsampled lengths exactly, so an
utterance encodes the same alone or in any batch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from s2s.model.audio_frontends import Conv1dFrontEnd, ConvSubsampling
from s2s.model.config import ModelConfig
from s2s.model.encoder_stack import EncoderStack
from s2s.nn.attention import padding_mask
from s2s.nn.dropout import Dropout
from s2s.nn.embeddings import PositionEncoding


class AudioEncoder(nn.Module):
    feature_mean: Tensor  # (feature_dim,) buffers
    feature_std: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))  # set from cmvn.json at training
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        if config.audio_frontend == "conv1d":
            self.subsample: ConvSubsampling | Conv1dFrontEnd = Conv1dFrontEnd(config.feature_dim, config.d_model)
        else:
            self.subsample = ConvSubsampling(
                config.feature_dim, config.d_model, config.subsampling, config.conv_channels
            )
        kind, count = config.source_positions
        self.positions = PositionEncoding(config.d_model, count, kind=kind)
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
        x = self.subsample(x, lengths)  # (B, F', D)
        out_lengths = self.output_lengths(lengths)
        mask = padding_mask(out_lengths, x.shape[1])  # (B, F') True on real positions
        x = x * self.scale + self.positions(x.shape[1]).to(x.dtype)
        return self.stack(self.dropout(x), mask), mask
