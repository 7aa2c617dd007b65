"""Length-bucketed batches under a token budget, and padding them into tensors."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from s2s.data.text.corpus import Example

if TYPE_CHECKING:
    from lightning.pytorch import Trainer


@dataclass
class Batch:
    source: Tensor  # (B, S) padded source ids, or (B, F, 80) log-mel frames for speech
    source_lengths: Tensor  # (B,) tokens or frames
    target_in: Tensor  # (B, T) decoder input: prefix + target
    target_out: Tensor  # (B, T) labels: target_in shifted left + EOS; pad where not trained
    prefix: Tensor  # (B, P) the forced prefix, for decoding
    indices: list[int]  # dataset positions, for references


def collate(examples: Sequence[Example], indices: list[int], *, pad_id: int, eos_id: int) -> Batch:
    """Pad a list of examples. Labels ignore the prefix positions (they are given, not predicted)."""
    src_len = max(len(e.source) for e in examples)
    source = torch.full((len(examples), src_len), pad_id, dtype=torch.long)
    for i, e in enumerate(examples):
        source[i, : len(e.source)] = torch.tensor(e.source)
    lengths = torch.tensor([len(e.source) for e in examples])
    return Batch(source, lengths, *collate_targets(examples, pad_id=pad_id, eos_id=eos_id), list(indices))


def collate_targets(examples: Sequence, *, pad_id: int, eos_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Decoder inputs ``(B, T)``, labels ``(B, T)`` and forced prefixes ``(B, P)`` of examples with
    ``.target`` (prefix + target ids) and ``.prefix_len``; shared by text and speech batches."""
    tgt_len = max(len(e.target) for e in examples)
    target_in = torch.full((len(examples), tgt_len), pad_id, dtype=torch.long)
    target_out = torch.full((len(examples), tgt_len), pad_id, dtype=torch.long)
    prefix_len = examples[0].prefix_len
    for i, e in enumerate(examples):
        if e.prefix_len != prefix_len:
            raise ValueError("examples in one batch must share a prefix length")
        target_in[i, : len(e.target)] = torch.tensor(e.target)
        labels = e.target[1:] + [eos_id]  # the next token at every position
        target_out[i, : len(labels)] = torch.tensor(labels)
        target_out[i, : e.prefix_len - 1] = pad_id  # tags are forced at decoding time
    return target_in, target_out, target_in[:, :prefix_len].clone()


class TokenBudgetBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of similar-length examples whose padded size stays under ``max_tokens``.

    A batch costs ``size * max(longest source, longest target)`` slots. Lengths may be in any
    unit: token counts for text, feature frames for speech (``(frames, target tokens)``, so the
    budget is a frame budget and sorting by length buckets utterances by duration). Examples are sorted by
    length (with a little per-epoch noise when shuffling, so batches vary between epochs),
    cut into batches greedily, and the batch order is shuffled. With ``num_replicas`` > 1 each
    rank takes every ``num_replicas``-th batch of the same permutation, so ranks never share a
    batch, and every rank gets the same number of batches (DDP needs equal step counts): the last
    few are dropped, or with ``pad=True`` (evaluation, where every example must be seen) the
    permutation is topped up with its first batches again.
    """

    def __init__(self, lengths: Sequence[tuple[int, int]], *, max_tokens: int, shuffle: bool, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0, max_sentences: int | None = None, pad: bool = False,
                 on_epoch: Callable[[int], None] | None = None) -> None:
        if max_tokens < max(max(pair) for pair in lengths):
            raise ValueError(f"max_tokens={max_tokens} is smaller than the longest example; raise it")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank={rank} must be in [0, num_replicas={num_replicas})")
        self.lengths, self.max_tokens, self.shuffle, self.seed = list(lengths), max_tokens, shuffle, seed
        self.num_replicas, self.rank, self.max_sentences, self.pad = num_replicas, rank, max_sentences, pad
        self.epoch = 0
        self.on_epoch = on_epoch  # told each new epoch (set_epoch), e.g. to seed that epoch's augmentation
        self.resume_point: tuple[int, int] | None = None  # (epoch, batches of it already trained)

    @classmethod
    def for_trainer(cls, trainer: Trainer | None, lengths: Sequence[tuple[int, int]], *, max_tokens: int,
                    shuffle: bool, seed: int, on_epoch: Callable[[int], None] | None = None) -> TokenBudgetBatchSampler:
        """A data loader's sampler: this process's share under ``trainer`` (all of it without one).

        Training drops the few batches that would make rank step counts unequal; evaluation pads
        instead, so every validation example is decoded by some rank.
        """
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return cls(lengths, max_tokens=max_tokens, shuffle=shuffle, seed=seed, num_replicas=replicas, rank=rank,
                   pad=not shuffle, on_epoch=on_epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(epoch)

    @property
    def sampler(self) -> "TokenBudgetBatchSampler":
        """Lightning calls ``set_epoch`` on ``loader.batch_sampler.sampler`` (torch's ``BatchSampler``
        layout), never on the batch sampler itself: without this every epoch had epoch 0's order."""
        return self

    def all_batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        noise = (lambda: rng.random()) if self.shuffle else (lambda: 0.0)
        order = sorted(range(len(self.lengths)), key=lambda i: (max(self.lengths[i]) + noise(), self.lengths[i]))
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for i in order:
            new_longest = max(longest, *self.lengths[i])
            full = self.max_sentences is not None and len(current) >= self.max_sentences
            if current and (new_longest * (len(current) + 1) > self.max_tokens or full):
                batches.append(current)
                current, new_longest = [], max(self.lengths[i])
            current.append(i)
            longest = new_longest
        if current:
            batches.append(current)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def skip_on_resume(self, epoch: int, batches_done: int) -> None:
        """Resume mid-epoch: the next pass, if it is over ``epoch``, starts after its first ``batches_done``."""
        self.resume_point = (epoch, batches_done)

    def per_rank(self, total: int) -> int:
        return -(-total // self.num_replicas) if self.pad else total // self.num_replicas

    def rank_batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch, in order."""
        batches = self.all_batches()
        count = self.per_rank(len(batches))
        if self.pad and batches:
            batches = (batches * (count * self.num_replicas // len(batches) + 1))[: count * self.num_replicas]
        return batches[self.rank :: self.num_replicas][:count]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.rank_batches()
        if self.resume_point is not None:  # used once, by the first pass after loading a checkpoint
            epoch, done = self.resume_point
            self.resume_point = None
            if epoch == self.epoch:
                batches = batches[done:]
        yield from batches

    def __len__(self) -> int:
        return self.per_rank(len(self.all_batches()))

    def padding_efficiency(self) -> float:
        """Real tokens / padded slots over one epoch's batches (both sides)."""
        real = padded = 0
        for batch in self.all_batches():
            src = [self.lengths[i][0] for i in batch]
            tgt = [self.lengths[i][1] for i in batch]
            real += sum(src) + sum(tgt)
            padded += len(batch) * (max(src) + max(tgt))
        return real / padded
