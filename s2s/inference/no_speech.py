"""Whisper's no-speech test: drop a window's text when the model itself says nobody speaks.

Whisper was trained to predict ``<|nospeech|>`` right after ``<|startoftranscript|>`` on audio
without speech. As in OpenAI's ``transcribe`` and faster-whisper, a window's output is dropped
when that token's probability exceeds ``threshold`` *and* the decoded text is unsure (its
average log-probability per token below ``logprob_threshold``): a confident transcript is
kept whatever the first token says. Only the unsure windows are probed (one encoder pass and
one decoder step each), so confident speech costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DEFAULT_LOGPROB_THRESHOLD = -1.0  # Whisper's


@dataclass(frozen=True)
class NoSpeechRule:
    threshold: float  # probability of <|nospeech|> above which an unsure window is silence
    logprob_threshold: float = DEFAULT_LOGPROB_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--no-speech-threshold must be between 0 and 1, got {self.threshold}")

    def unsure(self, tokens: list[int], logprob: float) -> bool:
        """Whether a window's output (its tokens and their total log-probability, EOS included) needs the probe."""
        return logprob / (len(tokens) + 1) < self.logprob_threshold


@torch.inference_mode()
def no_speech_probs(model, source: Tensor, source_lengths: Tensor, start_id: int, no_speech_id: int) -> Tensor:
    """``P(<|nospeech|> | <|startoftranscript|>)`` of each window ``(B,)``, source ``(B, F, feature_dim)``."""
    cache = model.start_decoding(model.encode(source, source_lengths))
    start = torch.full((source.shape[0], 1), start_id, dtype=torch.long, device=source.device)
    logits = model.decode_step(start, cache)  # (B, V)
    return logits.float().softmax(dim=-1)[:, no_speech_id]
