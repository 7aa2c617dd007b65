"""Translate lines of text with a loaded checkpoint: batched by length, output in input order."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from s2s.checkpoint import LoadedModel
from s2s.data.batching import TokenBudgetBatchSampler
from s2s.data.text.marian_tokenizer import MarianTokenizer
from s2s.decoding import DecodingOptions, Hypothesis
from s2s.inference.search_front import PromptedSearch, target_language

CHUNK_LINES = 1000  # lines read ahead and sorted by length; bounds memory on endless input


@dataclass(frozen=True)
class Translation:
    text: str
    nbest: list[tuple[str, float]]  # (text, score), best first


class Translator:
    def __init__(
        self,
        loaded: LoadedModel,
        *,
        options: DecodingOptions,
        target_lang: str | None = None,
        max_tokens: int = 4096,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        forced_prefix: str | None = None,
        workers: int = 1,
    ) -> None:
        """``forced_prefix``: text every output must start with (fed to the decoder after the tags).
        ``workers``: decode each batch with this many single-threaded workers (see ``s2s.decoding.parallel``)."""
        if loaded.model.config.encoder != "text":
            raise ValueError("this checkpoint is a speech model: use `s2s transcribe` (or `s2s evaluate --manifest`)")
        self.model = loaded.model.to(device=device, dtype=dtype).eval()
        self.tokenizer = loaded.tokenizer
        self.source_code: int | None = None  # a multilingual Marian model's >>xx<< id, put in front of each source line
        codes = getattr(self.tokenizer, "language_codes", None)
        if codes and target_lang is not None:
            if target_lang not in codes:
                raise ValueError(f"this model's language codes are {', '.join(sorted(codes))}; not {target_lang!r}")
            self.source_code, target_lang = codes[target_lang], None
        target_lang = target_language(loaded.info.languages, target_lang, writes="translates into")
        # target-side pieces: an imported Marian model has its own target vocabulary
        encode_target = getattr(self.tokenizer, "encode_target", self.tokenizer.encode)
        self.forced = encode_target(forced_prefix) if forced_prefix else []
        prefix = self.tokenizer.prefix(target_lang, loaded.info.task_tag) + self.forced
        self.search = PromptedSearch(self.model, self.tokenizer, options, prefix, workers=workers, device=device)
        self.max_tokens = max_tokens
        self.max_source = self.model.config.max_positions - 1  # room for EOS
        self.warn = lambda message: print(f"warning: {message}", file=sys.stderr)

    @property
    def prefix(self) -> list[int]:
        """The decoder's first tokens: tags, then the forced text."""
        return self.search.prefix

    def encode(self, line: str, number: int) -> list[int]:
        ids, warning = self.encode_checked(line, f"line {number}")
        if warning:
            self.warn(warning)
        return ids

    def encode_checked(self, line: str, where: str) -> tuple[list[int], str | None]:
        """Source ids + EOS, cut to the model's limit, and the warning naming ``where`` when it was cut."""
        ids = self.tokenizer.encode(line)
        if self.source_code is not None:
            assert isinstance(self.tokenizer, MarianTokenizer)  # only a Marian model has >>xx<< source codes
            if not self.tokenizer.starts_with_language_code(line):
                ids = [self.source_code] + ids  # --tgt-lang xx on a multilingual Marian model: >>xx<< first
        warning = None
        if len(ids) > self.max_source:
            warning = f"{where}: {len(ids)} tokens, truncated to the model's limit of {self.max_source}"
            ids = ids[: self.max_source]
        return ids + [self.tokenizer.eos_id], warning

    def translate(self, lines: Iterable[str]) -> Iterator[Translation]:
        """One :class:`Translation` per input line, in order; blank lines give empty translations."""
        chunk: list[str] = []
        start = 1
        for line in lines:
            chunk.append(line)
            if len(chunk) == CHUNK_LINES:
                yield from self.translate_chunk(chunk, start)
                start += len(chunk)
                chunk = []
        if chunk:
            yield from self.translate_chunk(chunk, start)

    def translate_chunk(self, lines: list[str], first_number: int) -> list[Translation]:
        return self.translate_sources(
            [self.encode(line.strip(), first_number + i) if line.strip() else None for i, line in enumerate(lines)]
        )

    def translate_sources(self, sources: list[list[int] | None]) -> list[Translation]:
        """Encoded sources (None for a blank line) -> one :class:`Translation` each, in order, decoded in
        length-sorted batches under the token budget."""
        results = [Translation("", [("", 0.0)])] * len(sources)
        present = {i: ids for i, ids in enumerate(sources) if ids is not None}
        todo = list(present)
        if not todo:
            return results
        lengths = [(len(present[i]), len(present[i])) for i in todo]
        max_tokens = max(self.max_tokens, max(length for length, _ in lengths))
        sampler = TokenBudgetBatchSampler(lengths, max_tokens=max_tokens, shuffle=False)
        for batch in sampler:
            rows = [todo[j] for j in batch]
            for row, hyps in zip(rows, self.decode([present[r] for r in rows])):
                texts = [(self.tokenizer.decode(self.forced + list(h.tokens)), h.score) for h in hyps]
                results[row] = Translation(texts[0][0], texts)
        return results

    def decode(self, sources: list[list[int]]) -> list[list[Hypothesis]]:
        longest = max(len(s) for s in sources)
        source = torch.full((len(sources), longest), self.tokenizer.pad_id, dtype=torch.long)  # (B, S)
        for i, ids in enumerate(sources):
            source[i, : len(ids)] = torch.tensor(ids)
        return self.search(source, torch.tensor([len(s) for s in sources]))
