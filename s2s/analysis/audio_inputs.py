"""Audio files as analysis inputs, for speech models: source positions are time, not words.

Each file is analyzed as one window, the transcriber's: its first 20 seconds, or less when the
encoder's positions hold less; a Whisper model's 30 seconds, padded with silence as it reads them. The encoder's positions are subsampled frames, labelled by their start time;
the measures that need words, punctuation or EOS do not apply to them (see docs/guides/analysis.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from s2s.analysis.inputs import Axis, SourceItem
from s2s.checkpoint import LoadedModel
from s2s.data.batching import Batch, collate_targets
from s2s.data.speech.audio import FRAMES_PER_SECOND, SAMPLE_RATE, load_audio
from s2s.data.speech.dataset import SpeechExample, pad_features
from s2s.decoding import DecodingOptions
from s2s.inference.transcriber import Transcriber


class AudioInputs:
    """Audio files, read with the speech front end and decoded with the transcriber's prefix."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        options: DecodingOptions,
        target_lang: str | None = None,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        # One window per file, the transcriber's: 20 s, or a Whisper model's 30 s padded with silence.
        self.transcriber = Transcriber(
            loaded, options=options, target_lang=target_lang, overlap=0.0, device=device, dtype=dtype
        )
        self.model, self.tokenizer, self.options = self.transcriber.model, loaded.tokenizer, options
        self.prefix = list(self.transcriber.prefix)
        self.device, self.dtype = device, dtype
        self.seconds_per_position = loaded.model.config.subsampling / FRAMES_PER_SECOND

    def read(self, inputs: Sequence[str]) -> list[SourceItem]:
        window = int(self.transcriber.window * SAMPLE_RATE)
        return [
            SourceItem(Path(path).name, self.transcriber.window_features(load_audio(path)[:window])) for path in inputs
        ]

    def features(self, items: Sequence[SourceItem]) -> tuple[torch.Tensor, torch.Tensor]:
        source, lengths = pad_features([item.data for item in items])  # (B, F, feature_dim), (B,)
        return source.to(self.device, self.dtype), lengths.to(self.device)

    def decode(self, items: Sequence[SourceItem]) -> list[list[int]]:
        hypotheses = self.transcriber.search(*self.features(items))
        return [list(hyps[0].tokens) if hyps else [] for hyps in hypotheses]

    def batch(self, items: Sequence[SourceItem], targets: Sequence[Sequence[int]]) -> Batch:
        examples = [
            SpeechExample(item.data, self.prefix + list(target), len(self.prefix), "", item.text)
            for item, target in zip(items, targets)
        ]
        source, lengths = self.features(items)
        target_in, target_out, prefix = collate_targets(
            examples, pad_id=self.tokenizer.pad_id, eos_id=self.tokenizer.eos_id
        )
        return Batch(source, lengths, target_in.to(self.device), target_out, prefix, list(range(len(items))))

    def source_axis(self, item: SourceItem, length: int) -> Axis:
        return Axis.frames(length, self.seconds_per_position)
