"""LightningDataModule for parallel text: tokenized datasets and token-budget batches (resumable)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from torch.utils.data import DataLoader

from s2s.data.batching import collate
from s2s.data.resumable import ResumableDataModule
from s2s.data.text.corpus import TranslationDataset
from s2s.data.text.tokenizer import Tokenizer
from s2s.errors import ConfigError, DataError


def collate_indices(dataset: TranslationDataset, indices: list[int], *, pad_id: int, eos_id: int):
    return collate([dataset[i] for i in indices], indices, pad_id=pad_id, eos_id=eos_id)


class TranslationDataModule(ResumableDataModule):
    """Reads ``data_dir/{split}.{lang}`` and ``data_dir/spm.model`` written by ``s2s prepare``."""

    def __init__(self, *, data_dir: str, src_lang: str, tgt_langs: list[str], max_tokens: int = 4096,
                 max_length: int = 256, valid_max_sentences: int | None = None, train_max_sentences: int | None = None,
                 task: str | None = None, num_workers: int = 0, seed: int = 1,
                 subword_alpha: float | None = None) -> None:
        super().__init__(seed, num_workers)
        if subword_alpha is not None and not subword_alpha > 0:
            raise ConfigError(f"data.subword_alpha must be above 0 (got {subword_alpha}); null turns sampling off")
        self.subword_alpha = subword_alpha  # None: every epoch sees the one best segmentation
        self.data_dir = Path(data_dir)
        self.src_lang, self.tgt_langs, self.task = src_lang, list(tgt_langs), task
        self.max_tokens, self.max_length = max_tokens, max_length
        self.valid_max_sentences, self.train_max_sentences = valid_max_sentences, train_max_sentences
        self.train_dataset: TranslationDataset | None = None
        self.valid_dataset: TranslationDataset | None = None

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        path = self.data_dir / "spm.model"
        if not path.is_file():
            raise DataError(f"{path} not found: run `s2s prepare multi30k --out {self.data_dir}` first")
        return Tokenizer.from_file(path)

    def split_files(self, split: str) -> list[tuple[Path, Path, str]]:
        return [(self.data_dir / f"{split}.{self.src_lang}", self.data_dir / f"{split}.{lang}", lang)
                for lang in self.tgt_langs]

    def load(self, split: str, limit: int | None,
             encode: Callable[[list[str]], list[list[int]]] | None = None) -> TranslationDataset:
        dataset = TranslationDataset.from_files(self.tokenizer, self.split_files(split), max_length=self.max_length,
                                                task=self.task, encode=encode)
        if limit is not None:
            dataset.examples = dataset.examples[:limit]
        if not len(dataset):
            raise DataError(f"{self.data_dir}: split {split!r} has no usable sentence pairs")
        return dataset

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is None:
            self.train_dataset = self.load("train", self.train_max_sentences)
            self.valid_dataset = self.load("valid", self.valid_max_sentences)

    def loader(self, dataset: TranslationDataset, *, shuffle: bool) -> DataLoader:
        # The loader yields dataset positions; collating looks the examples up, so every batch
        # knows which references it holds.
        collate_fn = functools.partial(collate_indices, dataset, pad_id=self.tokenizer.pad_id,
                                       eos_id=self.tokenizer.eos_id)
        return self.batch_loader(len(dataset), dataset.lengths(), max_tokens=self.max_tokens, shuffle=shuffle,
                                 collate_fn=collate_fn)

    def resegmented_train_dataset(self) -> TranslationDataset:
        """This epoch's training set with every sentence segmented at random (``subword_alpha``).

        The trainer builds a new loader each epoch, and the draw is seeded by (run seed, epoch): a
        resumed run sees the segmentation the uninterrupted one saw, and every DDP rank the same one.
        """
        trainer, epoch = self.trainer, 0
        if trainer is not None:
            if trainer.reload_dataloaders_every_n_epochs != 1:  # type: ignore[attr-defined]  # Lightning sets it
                raise ConfigError("data.subword_alpha draws a new segmentation every epoch: the trainer needs "
                                  "reload_dataloaders_every_n_epochs=1 (s2s train sets it)")
            epoch = trainer.current_epoch
        assert self.subword_alpha is not None  # called only when sampling is on
        self.tokenizer.seed_sampling(self.seed * 100_003 + epoch)
        sample = functools.partial(self.tokenizer.sample_batch, alpha=self.subword_alpha)
        return self.load("train", self.train_max_sentences, encode=sample)

    def train_dataloader(self) -> DataLoader:
        if self.subword_alpha is not None:
            self.train_dataset = self.resegmented_train_dataset()
        assert self.train_dataset is not None  # setup() loaded it
        return self.resumed(self.loader(self.train_dataset, shuffle=True))

    def val_dataloader(self) -> DataLoader:
        assert self.valid_dataset is not None  # setup() loaded it
        return self.loader(self.valid_dataset, shuffle=False)
