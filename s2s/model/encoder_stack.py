"""The stack of bidirectional encoder layers shared by the text and audio encoders."""

from __future__ import annotations

from torch import Tensor, nn

from s2s.model.config import ModelConfig
from s2s.nn.layers import EncoderLayer


class EncoderStack(nn.Module):
    """``config.encoder_layers`` self-attention layers; a final LayerNorm when pre-LN."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(**config.layer_options()) for _ in range(config.encoder_layers))
        self.final_norm = nn.LayerNorm(config.d_model) if config.norm_first else nn.Identity()

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x (B, S, D)``, ``mask (B, S)`` -> ``(B, S, D)``."""
        for layer in self.layers:
            x = layer(x, mask)
        return self.final_norm(x)
