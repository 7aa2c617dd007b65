"""The tokenizer of an imported Marian (OPUS-MT) model: two SentencePiece models and a vocabulary.

Marian's ids are not SentencePiece's: text is cut into pieces by ``source.spm`` (or
``target.spm`` on the target side) and each piece is looked up in ``vocab.json`` (or, with
separate vocabularies, the target side in ``target_vocab.json``); a piece missing from it is
``<unk>``. EOS is ``</s>``, padding is ``<pad>``, and decoding starts from the padding id
(Marian has no BOS). A leading ``>>xx<<`` in a source line is a multilingual model's
target-language code and is kept as one token. The object exposes the same interface as
:class:`s2s.data.text.tokenizer.Tokenizer`, so the translator and checkpoints use either.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import sentencepiece as spm

from s2s.data.text.generation_bans import GenerationBans
from s2s.data.text.tokenizer import folds_case

LANGUAGE_CODE = re.compile(r"^\s*(>>[^<>\s]+<<)\s*")
KIND = "marian"


class MarianTokenizer(GenerationBans):
    def __init__(self, *, source_spm: bytes, target_spm: bytes, source_vocab: Sequence[str],
                 target_vocab: Sequence[str] | None = None, unk: str = "<unk>", eos: str = "</s>",
                 pad: str = "<pad>") -> None:
        """``source_vocab[i]`` is the piece of id ``i``; ``target_vocab`` only when the vocabularies differ."""
        self.source_spm_bytes, self.target_spm_bytes = bytes(source_spm), bytes(target_spm)
        self.source_sp = spm.SentencePieceProcessor(model_proto=self.source_spm_bytes)
        self.target_sp = spm.SentencePieceProcessor(model_proto=self.target_spm_bytes)
        self.source_pieces = list(source_vocab)
        self.target_pieces = list(target_vocab) if target_vocab is not None else self.source_pieces
        self.source_ids = {piece: i for i, piece in enumerate(self.source_pieces)}
        self.target_ids = {piece: i for i, piece in enumerate(self.target_pieces)}
        for piece in (unk, eos, pad):
            if piece not in self.source_ids or piece not in self.target_ids:
                raise ValueError(f"the Marian vocabulary has no {piece!r} token")
        self.unk_id, self.eos_id, self.pad_id = (self.target_ids[p] for p in (unk, eos, pad))
        self.source_unk_id, self.source_eos_id = self.source_ids[unk], self.source_ids[eos]
        self.bos_id = self.pad_id  # Marian's decoder_start_token_id
        self.specials = frozenset(self.target_ids[p] for p in (unk, eos, pad))
        self.names = (unk, eos, pad)

    @classmethod
    def from_vocab_dicts(cls, *, source_spm: bytes, target_spm: bytes, vocab: dict[str, int],
                         target_vocab: dict[str, int] | None = None) -> "MarianTokenizer":
        """From ``vocab.json`` / ``target_vocab.json`` contents (piece -> id)."""
        return cls(source_spm=source_spm, target_spm=target_spm, source_vocab=invert(vocab),
                   target_vocab=invert(target_vocab) if target_vocab is not None else None)

    # ----- the Tokenizer interface -----------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Target-side vocabulary size (what the decoder predicts)."""
        return len(self.target_pieces)

    @property
    def source_vocab_size(self) -> int:
        return len(self.source_pieces)

    @functools.cached_property
    def writes_lower_case(self) -> bool:
        return folds_case(self.target_sp)

    def encode(self, text: str) -> list[int]:
        """Source text -> ids (no EOS). A leading ``>>xx<<`` stays one token."""
        match = LANGUAGE_CODE.match(text)
        code = [match.group(1)] if match else []
        pieces = code + self.source_sp.encode(text[match.end():] if match else text, out_type=str)
        return [self.source_ids.get(p, self.source_unk_id) for p in pieces]

    def encode_target(self, text: str) -> list[int]:
        """Target text -> target ids (a forced output prefix)."""
        return [self.target_ids.get(p, self.unk_id) for p in self.target_sp.encode(text, out_type=str)]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        """Target ids -> text, dropping EOS, padding, ``<unk>`` and language codes."""
        pieces = [self.target_pieces[i] for i in ids if i not in self.specials and i not in self.tag_ids]
        return self.target_sp.decode_pieces(pieces)

    def piece(self, token_id: int) -> str:
        return self.target_pieces[token_id]

    def is_special(self, token_id: int) -> bool:
        return token_id in self.specials or token_id in self.tag_ids

    @functools.cached_property
    def tag_ids(self) -> frozenset[int]:
        """Target ids of ``>>xx<<`` language codes (source-side prefixes, never output text)."""
        return frozenset(i for i, p in enumerate(self.target_pieces) if LANGUAGE_CODE.fullmatch(p))

    @functools.cached_property
    def language_codes(self) -> dict[str, int]:
        """``xx`` -> source id of ``>>xx<<``: a multilingual model's target languages (empty for a bilingual one)."""
        return {p.strip()[2:-2]: i for i, p in enumerate(self.source_pieces) if LANGUAGE_CODE.fullmatch(p)}

    def starts_with_language_code(self, text: str) -> bool:
        return LANGUAGE_CODE.match(text) is not None

    def prefix(self, target_lang: str | None, task: str | None = None) -> list[int]:
        """Decoding starts from the padding id; Marian puts language codes on the source side."""
        if task is not None:
            raise ValueError(f"a Marian model has no task tags (got task {task!r})")
        return [self.bos_id]

    def state(self) -> dict:
        """Plain data for a checkpoint (``torch.load(weights_only=True)`` can read it back)."""
        return {"kind": KIND, "source_spm": self.source_spm_bytes, "target_spm": self.target_spm_bytes,
                "source_vocab": self.source_pieces,
                "target_vocab": None if self.target_pieces is self.source_pieces else self.target_pieces,
                "specials": list(self.names)}

    @classmethod
    def from_state(cls, state: dict) -> "MarianTokenizer":
        unk, eos, pad = state["specials"]
        return cls(source_spm=state["source_spm"], target_spm=state["target_spm"], source_vocab=state["source_vocab"],
                   target_vocab=state["target_vocab"], unk=unk, eos=eos, pad=pad)


def invert(vocab: dict[str, int]) -> list[str]:
    """``{piece: id}`` -> ``[piece of id 0, piece of id 1, ...]``; the ids must be 0..N-1."""
    pieces = sorted(vocab, key=vocab.__getitem__)
    if [vocab[p] for p in pieces] != list(range(len(pieces))):
        raise ValueError(f"vocabulary ids must be 0..{len(vocab) - 1} without gaps or repeats")
    return pieces
