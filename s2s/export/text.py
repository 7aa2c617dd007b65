"""Text in and out of an exported model, without torch: s2s's SentencePiece model as the export holds it."""

from __future__ import annotations

from pathlib import Path


class ExportedTokenizer:
    """Encodes lines as ``s2s translate`` does (stripped, truncated to the model's limit, EOS appended) and
    decodes ids without the special ones (padding, BOS, EOS, tags)."""

    def __init__(self, folder: str | Path, meta: dict) -> None:
        import sentencepiece

        if meta["encoder"] != "text":
            raise ValueError("this export is a speech model: it decodes features, not text")
        if meta["tokenizer"]["kind"] != "sentencepiece":
            raise ValueError(
                f"this export's tokenizer ({meta['tokenizer']['kind']}) is not s2s's SentencePiece: decode ids instead"
            )
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(Path(folder) / meta["tokenizer"]["file"]))
        self.special = set(meta["special_ids"])
        self.eos_id, self.pad_id = meta["eos_id"], meta["pad_id"]
        self.max_source = meta["max_positions"] - 1  # room for EOS

    def encode(self, lines: list[str]) -> list[list[int]]:
        return [ids[: self.max_source] + [self.eos_id] for ids in self.sp.encode([line.strip() for line in lines])]

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    def ids(self, pieces: list[str]) -> list[int]:
        return [self.sp.piece_to_id(p) for p in pieces]

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode([i for i in ids if i not in self.special])


def translate_lines(lines: list[str], decode_batch) -> list[str]:
    """``decode_batch(non-blank lines) -> their translations``, with blank lines kept as empty ones, in order."""
    todo = [i for i, line in enumerate(lines) if line.strip()]
    results = [""] * len(lines)
    for i, text in zip(todo, decode_batch([lines[i] for i in todo]) if todo else []):
        results[i] = text
    return results
