"""The input side of the analysis: what the model reads, and how each position is labelled.

Analysis needs three things from its inputs, whatever they are (text lines here, audio files in
``audio_inputs.py``): a batch the model can run, the model's own output for it, and an
:class:`Axis` describing the source positions (their labels, words, punctuation, EOS). Everything
downstream (capture, measures, report) works on :class:`Axis` and never looks at raw inputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from s2s.checkpoint import AnyTokenizer, LoadedModel
from s2s.data.batching import Batch, collate
from s2s.data.text.corpus import Example
from s2s.data.text.pieces import WORD_BOUNDARY, is_punctuation
from s2s.decoding import DecodingOptions
from s2s.errors import DataError
from s2s.inference.translator import Translator
from s2s.model.seq2seq import Seq2Seq


@dataclass(frozen=True)
class Axis:
    """The positions along one side of an attention matrix.

    ``words[i]`` numbers the word position ``i`` belongs to (-1 for specials, frames and
    punctuation, which belong to no word); ``words`` is None where the positions are not text.
    """

    labels: tuple[str, ...]
    words: tuple[int, ...] | None
    punctuation: tuple[bool, ...]
    eos: int | None  # position of the end-of-sequence token, if the side has one
    unit: str = "token"  # what one position is, in the report's sentences
    counts: tuple[int, ...] | None = None  # each position's frequency in the training data (rare-token heads)

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_pieces(cls, pieces: Sequence[str], special: Sequence[bool], eos: int | None = None) -> Axis:
        """Word numbers from the ``▁`` marker: a word-initial piece starts a word, the rest continue it."""
        words, punct, word = [], [], -1
        previous_in_word = False
        for piece, is_special in zip(pieces, special):
            p = not is_special and is_punctuation(piece)
            if is_special or p:
                words.append(-1)
                previous_in_word = False
            else:
                if piece.startswith(WORD_BOUNDARY) or not previous_in_word:
                    word += 1
                words.append(word)
                previous_in_word = True
            punct.append(p)
        return cls(tuple(pieces), tuple(words), tuple(punct), eos)

    @classmethod
    def frames(cls, count: int, seconds_per_frame: float) -> Axis:
        """Positions that are audio frames: labelled by time, no words, punctuation or EOS."""
        return cls(tuple(f"{i * seconds_per_frame:.2f}s" for i in range(count)), None, (False,) * count, None, "frame")


def token_axis(
    tokenizer: AnyTokenizer, ids: Sequence[int], eos: int | None = None, frequencies: dict[int, int] | None = None
) -> Axis:
    """The axis of token ``ids``; ``frequencies`` (id -> training count) labels rare tokens."""
    pieces = [tokenizer.piece(i) for i in ids]
    special = [tokenizer.is_special(i) for i in ids]
    axis = Axis.from_pieces(pieces, special, eos)
    if frequencies is None:
        return axis
    return dataclasses.replace(axis, counts=tuple(frequencies.get(i, 0) for i in ids))


@dataclass(frozen=True)
class SourceItem:
    """One input: how the report shows it, and what the model reads."""

    text: str  # the line, or the audio file's name
    data: Any  # token ids + EOS for text; log-mel features (F, 80) for audio


class InputSide(Protocol):
    """What :func:`s2s.analysis.collect.collect_attention` needs from an input modality."""

    model: Seq2Seq
    tokenizer: AnyTokenizer
    prefix: list[int]

    def read(self, inputs: Sequence[str]) -> list[SourceItem]: ...

    def decode(self, items: Sequence[SourceItem]) -> list[list[int]]: ...

    def batch(self, items: Sequence[SourceItem], targets: Sequence[Sequence[int]]) -> Batch: ...

    def source_axis(self, item: SourceItem, length: int) -> Axis: ...


class TextInputs:
    """Text lines, read, decoded and batched through :class:`s2s.inference.translator.Translator`."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        options: DecodingOptions,
        target_lang: str | None = None,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.translator = Translator(loaded, options=options, target_lang=target_lang, device=device, dtype=dtype)
        self.model, self.tokenizer = self.translator.model, loaded.tokenizer
        self.prefix = self.translator.prefix
        self.device = device
        self.frequencies: dict[int, int] | None = None  # source token counts of the training data, when given

    def read(self, inputs: Sequence[str]) -> list[SourceItem]:
        items = [
            SourceItem(line.strip(), self.translator.encode(line.strip(), number))
            for number, line in enumerate(inputs, start=1)
            if line.strip()
        ]
        if not items:
            raise DataError("no input sentences to analyze (every line is blank)")
        return items

    def decode(self, items: Sequence[SourceItem]) -> list[list[int]]:
        """The model's best output for each item (tokens without prefix or EOS)."""
        return [list(hyps[0].tokens) for hyps in self.translator.decode([item.data for item in items])]

    def batch(self, items: Sequence[SourceItem], targets: Sequence[Sequence[int]]) -> Batch:
        """A teacher-forcing batch: decoder input is the prefix followed by each target."""
        examples = [
            Example(item.data, self.prefix + list(target), len(self.prefix), "", item.text)
            for item, target in zip(items, targets)
        ]
        batch = collate(
            examples, list(range(len(examples))), pad_id=self.tokenizer.pad_id, eos_id=self.tokenizer.eos_id
        )
        batch.source, batch.source_lengths = batch.source.to(self.device), batch.source_lengths.to(self.device)
        batch.target_in = batch.target_in.to(self.device)
        return batch

    def source_axis(self, item: SourceItem, length: int) -> Axis:
        assert length == len(item.data), "a text encoder keeps one position per token"
        return token_axis(self.tokenizer, item.data, eos=length - 1, frequencies=self.frequencies)
