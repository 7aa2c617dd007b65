"""Parallel text corpora: reading aligned files and turning sentence pairs into examples."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from s2s.data.text.tokenizer import Tokenizer
from s2s.errors import DataError


MAX_ENCODING_WARNINGS = 5  # per file; more would drown the output


def utf8_lines(stream: Iterable[bytes], name: str) -> Iterator[str]:
    """Lines of a byte stream split on ``\n`` only, newline stripped; invalid UTF-8 is replaced, with a warning.

    ``str.splitlines`` would also split on form feeds, U+0085 and U+2028, which may sit inside a
    sentence: the line count would then differ from ``wc -l`` and parallel files would misalign.
    """
    bad = 0
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            bad += 1
            if bad <= MAX_ENCODING_WARNINGS:
                more = "; further such lines are not reported" if bad == MAX_ENCODING_WARNINGS else ""
                print(f"warning: {name} line {number}: invalid UTF-8 replaced with U+FFFD{more}", file=sys.stderr)
        yield text.rstrip("\r\n")


def read_lines(path: str | Path) -> list[str]:
    """One sentence per line (see :func:`utf8_lines`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"no such file: {path}")
    if not path.is_file():
        raise DataError(f"not a file: {path}")
    try:
        with open(path, "rb") as f:
            return list(utf8_lines(f, str(path)))
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None


def read_parallel(source_path: str | Path, target_path: str | Path) -> tuple[list[str], list[str]]:
    """Aligned source/target lines; refuses files whose line counts differ."""
    sources, targets = read_lines(source_path), read_lines(target_path)
    if len(sources) != len(targets):
        raise DataError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: a parallel corpus must align"
        )
    return sources, targets


@dataclass(frozen=True)
class Example:
    source: list[int]  # source ids + EOS
    target: list[int]  # decoder input: prefix + target ids; the labels are this shifted left + EOS
    prefix_len: int  # prefix tokens (BOS, tags) whose predictions are not trained
    reference: str  # the raw target text, for BLEU
    source_text: str


class TranslationDataset:
    """Tokenized sentence pairs for one or several target languages."""

    def __init__(self, examples: list[Example]) -> None:
        self.examples = examples

    @classmethod
    def from_files(cls, tokenizer: Tokenizer, pairs: list[tuple[Path, Path, str]], *, max_length: int | None,
                   task: str | None = None,
                   encode: Callable[[list[str]], list[list[int]]] | None = None) -> "TranslationDataset":
        """``pairs``: (source file, target file, target language). Pairs longer than ``max_length`` are dropped.

        ``encode`` turns texts into ids (default: the tokenizer's one best segmentation).
        """
        encode = encode or tokenizer.encode_batch
        examples = []
        for source_path, target_path, target_lang in pairs:
            sources, targets = read_parallel(source_path, target_path)
            prefix = tokenizer.prefix(target_lang, task)
            for src_text, tgt_text, src_ids, tgt_ids in zip(sources, targets, encode(sources), encode(targets)):
                if max_length is not None and (len(src_ids) + 1 > max_length or len(tgt_ids) + len(prefix) > max_length):
                    continue
                examples.append(Example(src_ids + [tokenizer.eos_id], prefix + tgt_ids, len(prefix), tgt_text, src_text))
        return cls(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        return self.examples[index]

    def lengths(self) -> list[tuple[int, int]]:
        return [(len(e.source), len(e.target)) for e in self.examples]
