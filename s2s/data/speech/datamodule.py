"""SpeechDataModule: manifests written by ``s2s prepare an4|fsdd|synth``, batched under a frame budget."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from s2s.data.speech.audio import FeatureStats, SpecAugment
from s2s.data.speech.features import feature_extractor
from s2s.data.speech.manifest import Utterance, read_manifest
from s2s.data.resumable import ResumableDataModule
from s2s.data.speech.dataset import Augmentation, SpeechDataset, collate_speech
from s2s.data.text.tokenizer import Tokenizer
from s2s.errors import DataError


class SpeechDataModule(ResumableDataModule):
    """Reads ``data_dir/{train,valid,test}.tsv``, ``spm.model`` and ``cmvn.json``.

    ``max_frames`` is the batch budget in padded feature frames (100 per second of audio);
    training utterances longer than ``max_duration`` seconds are dropped, and so are rows whose
    target language (the ``lang`` column) is not one of ``tgt_langs``: the same manifests with
    transcripts (``s2s prepare synth --transcripts``) serve a recognition run (``tgt_langs=[en]``),
    a translation run (``[de]``) or both (``[de, en]``). A split of at most
    ``cache_hours`` of audio is kept in memory once read; a larger one is read from disk each time. ``spec_augment``
    (a dict of :class:`SpecAugment` fields, or null) and ``speed_perturb`` (factors, e.g.
    ``[0.9, 1.0, 1.1]``, or null) apply to training batches only, drawn from (seed, epoch, utterance):
    a resumed run, and a loader with any number of workers, augment as an uninterrupted one does.
    ``pad_seconds`` extends every utterance with silence to that length (Whisper's 30-s windows); null
    reads each at its own length. A run that starts from a checkpoint (``init.checkpoint``) calls
    :meth:`adopt` first: the checkpoint's tokenizer, features and normalization replace the corpus's.
    """

    def __init__(self, *, data_dir: str, src_lang: str, tgt_langs: list[str], task: str | None = None,
                 max_frames: int = 20000, max_duration: float = 20.0, spec_augment: dict | None = None,
                 speed_perturb: list[float] | None = None, valid_max_sentences: int | None = None,
                 train_max_sentences: int | None = None, cache_hours: float = 2.0, num_workers: int = 0,
                 pad_seconds: float | None = None, seed: int = 1) -> None:
        super().__init__(seed, num_workers)
        self.data_dir = Path(data_dir)
        self.src_lang, self.tgt_langs, self.task = src_lang, list(tgt_langs), task
        self.max_frames, self.max_duration = max_frames, max_duration
        self.spec_augment = SpecAugment(**spec_augment) if spec_augment else None
        self.speed_factors = tuple(speed_perturb) if speed_perturb else (1.0,)
        self.valid_max_sentences, self.train_max_sentences = valid_max_sentences, train_max_sentences
        self.cache_hours, self.pad_seconds = cache_hours, pad_seconds
        self.features = feature_extractor("log_mel")
        self.train_dataset: SpeechDataset | None = None
        self.valid_dataset: SpeechDataset | None = None

    def adopt(self, tokenizer, features: str, feature_dim: int, feature_stats: FeatureStats) -> None:
        """Read the corpus as a pretrained model does: its tokenizer, its features, its normalization."""
        self.tokenizer, self.feature_stats = tokenizer, feature_stats  # replace the cached corpus files' values
        self.features = feature_extractor(features, feature_dim)

    def require(self, name: str) -> Path:
        path = self.data_dir / name
        if not path.is_file():
            raise DataError(f"{path} not found: prepare the corpus first (e.g. `s2s prepare an4 --out {self.data_dir}`)")
        return path

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(self.require("spm.model"))

    @functools.cached_property
    def feature_stats(self) -> FeatureStats:
        """Global log-mel mean/std of the training audio, computed by ``s2s prepare``."""
        return FeatureStats.load(self.require("cmvn.json"))

    def manifest(self, split: str) -> Path:
        return self.data_dir / f"{split}.tsv"

    def in_languages(self, rows: list[Utterance]) -> list[Utterance]:
        """The rows whose target language this run trains (rows without one are in ``tgt_langs[0]``)."""
        return [r for r in rows if (r.lang or self.tgt_langs[0]) in self.tgt_langs]

    def test_manifests(self) -> list[Path]:
        """``test*.tsv`` manifests with targets in this run's languages (``test_asr.tsv`` holds transcripts)."""
        return [path for path in sorted(self.data_dir.glob("test*.tsv")) if self.in_languages(read_manifest(path))]

    def load(self, split: str, limit: int | None, max_duration: float | None) -> SpeechDataset:
        every = read_manifest(self.require(f"{split}.tsv"))
        rows = self.in_languages(every)
        if len(rows) < len(every):
            others = sorted({r.lang for r in every if r.lang and r.lang not in self.tgt_langs})
            print(f"{self.manifest(split)}: {len(every) - len(rows)} of {len(every)} utterances are left out: their "
                  f"targets are in {', '.join(others)}, not in data.tgt_langs={self.tgt_langs}", file=sys.stderr)
        if max_duration is not None:
            rows = [r for r in rows if r.duration <= max_duration]
        rows = rows[:limit] if limit is not None else rows
        if not rows:
            raise DataError(f"{self.manifest(split)} has no usable utterances")
        cache = sum(r.duration for r in rows) <= self.cache_hours * 3600  # 16 kHz float32: 230 MB an hour
        return SpeechDataset(rows, self.tokenizer, src_lang=self.src_lang, default_lang=self.tgt_langs[0],
                             task=self.task, seed=self.seed, cache=cache, features=self.features,
                             pad_seconds=self.pad_seconds)

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is None:
            self.train_dataset = self.load("train", self.train_max_sentences, self.max_duration)
            fill = torch.tensor(self.feature_stats.mean)
            self.train_dataset.augmentation = Augmentation(self.spec_augment, self.speed_factors, fill)
            self.valid_dataset = self.load("valid", self.valid_max_sentences, None)

    def loader(self, dataset: SpeechDataset, *, shuffle: bool) -> DataLoader:
        lengths = dataset.lengths()
        if min(self.speed_factors) < 1 and shuffle:  # slowed-down audio is longer: budget for the worst case
            lengths = [(int(f / min(self.speed_factors)) + 1, t) for f, t in lengths]
        budget = max(self.max_frames, max(max(pair) for pair in lengths))
        collate_fn = functools.partial(collate_speech, dataset, pad_id=self.tokenizer.pad_id,
                                       eos_id=self.tokenizer.eos_id)
        return self.batch_loader(len(dataset), lengths, max_tokens=budget, shuffle=shuffle, collate_fn=collate_fn,
                                 on_epoch=dataset.set_epoch)

    def train_dataloader(self) -> DataLoader:
        assert self.train_dataset is not None  # setup() loaded it
        return self.resumed(self.loader(self.train_dataset, shuffle=True))

    def val_dataloader(self) -> DataLoader:
        assert self.valid_dataset is not None  # setup() loaded it
        return self.loader(self.valid_dataset, shuffle=False)
