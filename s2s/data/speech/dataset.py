"""Speech datasets: manifest rows -> (log-mel frames, decoder prefix + target ids), and batches."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2s.data.speech.audio import SAMPLE_RATE, SpecAugment, load_audio, log_mel, num_frames, speed_perturb
from s2s.data.speech.features import pad_or_trim
from s2s.data.batching import Batch, collate_targets
from s2s.data.speech.manifest import Utterance
from s2s.data.text.tokenizer import Tokenizer


@dataclass(frozen=True)
class SpeechExample:
    features: Tensor  # (F, feature_dim) raw log-mel
    target: list[int]  # prefix + target ids (labels are this shifted left + EOS)
    prefix_len: int
    reference: str  # the target text, for WER/BLEU
    source_text: str  # what was said (the transcript when known, else the utterance id)


def task_tag(task: str | None, lang: str | None, src_lang: str | None) -> str | None:
    """The task tag of a row: ``"auto"`` picks transcribe when the target is in the spoken language."""
    if task == "auto":
        return "transcribe" if lang == src_lang else "translate"
    return task


@dataclass
class Augmentation:
    spec_augment: SpecAugment | None
    speed_factors: tuple[float, ...]  # one is drawn per example; (1.0,) = none
    fill: Tensor  # (feature_dim,) the model's normalization mean: masked regions become 0 after normalization


class SpeechDataset:
    """Utterances and their targets; audio read on first access (and kept with ``cache``), features computed on access.

    ``features``: the model's feature function (``s2s.data.speech.features``); ``pad_seconds``: every
    utterance is extended with silence to this length first (Whisper reads 30-s windows), or read at
    its own length (None).
    """

    def __init__(self, utterances: list[Utterance], tokenizer: Tokenizer, *, src_lang: str, default_lang: str,
                 task: str | None, seed: int = 1, cache: bool = True,
                 features: Callable[[Tensor], Tensor] = log_mel, pad_seconds: float | None = None) -> None:
        self.utterances, self.cache = utterances, cache
        self.features, self.pad_samples = features, round(pad_seconds * SAMPLE_RATE) if pad_seconds else None
        self.waves: list[Tensor | None] = [None] * len(utterances)
        self.prefixes, self.targets = [], []
        for u, ids in zip(utterances, tokenizer.encode_batch([u.target for u in utterances])):
            lang = u.lang or default_lang
            prefix = tokenizer.prefix(lang, task_tag(task, lang, src_lang))
            self.prefixes.append(len(prefix))
            self.targets.append(prefix + ids)
        self.augmentation: Augmentation | None = None
        self.seed, self.epoch = seed, 0

    def __len__(self) -> int:
        return len(self.utterances)

    def wave(self, index: int) -> Tensor:
        cached = self.waves[index]
        if cached is not None:
            return cached
        wave = load_audio(self.utterances[index].audio)
        if self.cache:
            self.waves[index] = wave
        return wave

    def set_epoch(self, epoch: int) -> None:
        """Augment as in ``epoch`` from now on (the batch sampler calls this when an epoch starts)."""
        self.epoch = epoch

    def augmentation_rng(self, index: int) -> random.Random:
        """The random draws of utterance ``index`` in this epoch: a function of (seed, epoch, index) alone, so
        neither the order of reads, nor worker processes (each holds a copy of this dataset), nor a resumed
        run change them (fairseq seeds its per-item noise the same way)."""
        return random.Random(f"{self.seed}/{self.epoch}/{index}")

    def __getitem__(self, index: int) -> SpeechExample:
        u, wave, aug = self.utterances[index], self.wave(index), self.augmentation
        rng = self.augmentation_rng(index) if aug is not None else None
        if aug is not None and len(aug.speed_factors) > 1:
            assert rng is not None  # drawn whenever there is augmentation
            wave = speed_perturb(wave, rng.choice(aug.speed_factors))
        if self.pad_samples is not None:
            wave = pad_or_trim(wave, self.pad_samples)
        features = self.features(wave)  # (F, feature_dim)
        if aug is not None and aug.spec_augment is not None:
            assert rng is not None  # drawn whenever there is augmentation
            features = aug.spec_augment(features, aug.fill, rng)
        return SpeechExample(features, self.targets[index], self.prefixes[index], u.target, u.source or u.id)

    def lengths(self) -> list[tuple[int, int]]:
        """``(feature frames, target tokens)`` per utterance, from the manifest's durations."""
        return [(num_frames(self.pad_samples or round(u.duration * SAMPLE_RATE)), len(t))
                for u, t in zip(self.utterances, self.targets)]


def pad_features(features: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """``(F_i, feature_dim)`` matrices -> ``(B, F, feature_dim)`` zero-padded and lengths ``(B,)``."""
    lengths = torch.tensor([f.shape[0] for f in features])
    batch = features[0].new_zeros(len(features), int(lengths.max()), features[0].shape[1])
    for i, f in enumerate(features):
        batch[i, : f.shape[0]] = f
    return batch, lengths


def collate_speech(dataset: SpeechDataset, indices: list[int], *, pad_id: int, eos_id: int) -> Batch:
    examples = [dataset[i] for i in indices]
    source, lengths = pad_features([e.features for e in examples])
    return Batch(source, lengths, *collate_targets(examples, pad_id=pad_id, eos_id=eos_id), list(indices))
