"""Greedy translation with ``ctranslate2.Translator`` under s2s's decoding rules, without torch.

    from s2s.export.ctranslate2_runtime import CTranslate2Translator
    CTranslate2Translator("model-ct2").translate(["A man is riding a bicycle."])

What it asks of CTranslate2 is what ``s2s translate --beam 1`` does: the prefix's tags as the target
prefix (BOS is the model's decoder start token), the same ids never generated, EOS allowed first
(``min_decoding_length=0``), and each sentence's own length limit: CTranslate2 takes one limit per
batch, so it decodes to the longest and each output is cut at its own, which changes nothing for
greedy search (a row's tokens never depend on the others').
"""

from __future__ import annotations

import math
from pathlib import Path

from s2s.export.metadata import prefix_for, read_metadata
from s2s.export.text import ExportedTokenizer, translate_lines


class CTranslate2Translator:
    def __init__(self, folder: str | Path, *, threads: int = 0, device: str = "cpu") -> None:
        import ctranslate2

        self.meta = read_metadata(folder)
        self.tokenizer = ExportedTokenizer(folder, self.meta)
        self.translator = ctranslate2.Translator(
            str(folder), device=device, compute_type="float32", intra_threads=threads
        )
        self.suppressed = [[piece] for piece in self.tokenizer.pieces(self.meta["suppress_ids"])]

    def limit(self, source_length: int, prefix_length: int) -> int:
        """Tokens a sentence may generate, EOS included (``DecodingOptions``' max_len_a/b rule)."""
        limit = math.floor(self.meta["max_len_a"] * source_length + self.meta["max_len_b"])
        return max(1, min(limit, self.meta["max_positions"] - prefix_length))

    def greedy(self, sources: list[list[int]], prefix: list[int]) -> list[list[int]]:
        """Source ids (EOS last) -> each one's generated ids after the prefix, EOS excluded."""
        tags = self.tokenizer.pieces(prefix[1:])  # prefix[0] is BOS, the decoder's start token
        limits = [self.limit(len(ids), len(prefix)) - 1 for ids in sources]  # tokens before the (forced) EOS
        results = self.translator.translate_batch(
            [self.tokenizer.pieces(ids[:-1]) for ids in sources],  # the model config appends EOS itself
            target_prefix=[tags] * len(sources) if tags else None,
            beam_size=1,
            min_decoding_length=0,
            max_decoding_length=len(tags) + max(limits),
            suppress_sequences=self.suppressed,
            max_input_length=0,
        )  # the sources are already cut at the model's limit
        return [self.tokenizer.ids(result.hypotheses[0])[len(tags) :][:limit] for result, limit in zip(results, limits)]

    def translate(self, lines: list[str], *, target_lang: str | None = None) -> list[str]:
        """One translation per line, in order."""
        prefix = prefix_for(self.meta, target_lang)
        return translate_lines(
            lines,
            lambda batch: [self.tokenizer.decode(ids) for ids in self.greedy(self.tokenizer.encode(batch), prefix)],
        )
