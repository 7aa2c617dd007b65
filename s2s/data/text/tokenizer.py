"""SentencePiece tokenizer with the special ids and the decoder's prefix tags.

The padding, BOS/EOS and unknown ids, and every tag (``<2de>``, ``<translate>``...),
are defined here and nowhere else. The model's bytes travel inside each checkpoint.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from s2s.data.text.generation_bans import GenerationBans

PAD, UNK, BOS, EOS = 0, 1, 2, 3
TASK_TAGS = ("<translate>", "<transcribe>")
LANGUAGES = ("en", "de", "fr", "cs")
TAG_PATTERN = re.compile(r"<(translate|transcribe|2[a-z]{2,3})>")


def folds_case(processor: spm.SentencePieceProcessor) -> bool:
    """Whether a SentencePiece model lower-cases what it encodes (trained with ``nmt_nfkc_cf``)."""
    return processor.normalize("A") == processor.normalize("a")


def lang_tag(lang: str) -> str:
    """The decoder prefix token that asks for output in ``lang``."""
    return f"<2{lang}>"


class Tokenizer(GenerationBans):
    """Text <-> ids. ``encode`` adds no BOS/EOS: the data and decoding code add them explicitly."""

    def __init__(self, model_bytes: bytes) -> None:
        self.model_bytes = bytes(model_bytes)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        if (self.sp.pad_id(), self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id()) != (PAD, UNK, BOS, EOS):
            raise ValueError("SentencePiece model must use pad=0 unk=1 bos=2 eos=3 (train it with s2s prepare)")
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = PAD, UNK, BOS, EOS

    @classmethod
    def from_file(cls, path: str | Path) -> "Tokenizer":
        return cls(Path(path).read_bytes())

    @staticmethod
    def train(sentences: Iterable[str], out_prefix: str | Path, *, vocab_size: int,
              languages: Sequence[str] = LANGUAGES, character_coverage: float = 1.0,
              model_type: str = "unigram", lowercase: bool = False) -> "Tokenizer":
        """Train a SentencePiece model on ``sentences``; writes ``out_prefix.model`` and returns it.

        ``lowercase``: the model lower-cases all text it encodes (SentencePiece's ``nmt_nfkc_cf``
        normalization: NFKC, then case folding that keeps ``ß``), so a model trained on lower-cased
        text reads ``A Man`` as ``a man`` wherever its checkpoint goes; its output is lower case.
        """
        tags = list(TASK_TAGS) + [lang_tag(lang) for lang in languages]
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
            model_type=model_type, character_coverage=character_coverage,
            normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
            pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, user_defined_symbols=tags,
            input_sentence_size=2_000_000, shuffle_input_sentence=True, num_threads=2,
            hard_vocab_limit=False, minloglevel=2,
        )
        Path(f"{out_prefix}.model").write_bytes(model.getvalue())
        return Tokenizer(model.getvalue())

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @functools.cached_property
    def writes_lower_case(self) -> bool:
        """True for a model of lower-cased text (``s2s prepare multi30k --lowercase``): its output has no capitals."""
        return folds_case(self.sp)

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts)

    def sample_batch(self, texts: list[str], *, alpha: float) -> list[list[int]]:
        """One segmentation of each text drawn at random: subword regularization (Kudo, 2018).

        A unigram model samples from all its segmentations with probabilities ``p ** alpha``:
        smaller ``alpha`` gives more varied (and longer) segmentations. On Multi30k's 8k model,
        0.5 changes 39% of the sentences and adds 3% tokens; 0.3 changes 77% and adds 12%
        (tools/subword_sampling_stats.py).
        (A BPE model reads ``alpha`` as BPE-dropout's merge-dropping probability instead.)
        Reproducible after :meth:`seed_sampling`: one thread draws in order.
        """
        return self.sp.encode(texts, enable_sampling=True, alpha=alpha, nbest_size=-1, num_threads=1)

    @staticmethod
    def seed_sampling(seed: int) -> None:
        """Seed SentencePiece's sampler (a process-wide generator) so the next draws repeat."""
        spm.set_random_generator_seed(seed)

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> text, dropping specials and tags (anything that is not a normal piece)."""
        return self.sp.decode([i for i in ids if not self.is_special(i)])

    def is_special(self, token_id: int) -> bool:
        return self.sp.is_control(token_id) or token_id in self.tag_ids

    def piece(self, token_id: int) -> str:
        return self.sp.id_to_piece(token_id)

    @functools.cached_property
    def tag_ids(self) -> frozenset[int]:
        """Ids of the task and language tags (prefix tokens, never part of the output text)."""
        return frozenset(
            i for i in range(self.vocab_size) if TAG_PATTERN.fullmatch(self.sp.id_to_piece(i))
        )

    def tag_id(self, tag: str) -> int:
        token_id = self.sp.piece_to_id(tag)
        if token_id == self.unk_id:
            raise ValueError(f"the tokenizer has no tag {tag!r}")
        return token_id

    def prefix(self, target_lang: str | None, task: str | None = None) -> list[int]:
        """Decoder prefix: ``[BOS, <task>?, <2lang>?]``, the tokens decoding starts from."""
        ids = [self.bos_id]
        if task is not None:
            ids.append(self.tag_id(f"<{task}>"))
        if target_lang is not None:
            ids.append(self.tag_id(lang_tag(target_lang)))
        return ids
