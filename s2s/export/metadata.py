"""What an exported model needs beside its weights to decode as s2s does: ``s2s_export.json``.

The decoder's prefix per target language, the ids never generated (and never first), the special
ids, the length rule and the model's sizes: plain JSON, read by ``s2s.export.onnx_runtime`` without
torch, and by anyone driving CTranslate2 with the same rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is read by the torch-free runtime too: torch-side imports stay inside functions
    from s2s.checkpoint import LoadedModel

METADATA_FILE = "s2s_export.json"
FORMAT = "s2s-export"
VERSION = 1


def prefixes(loaded: LoadedModel) -> dict[str, list[int]]:
    """The decoder prefix of each target language (key "" for a model without language tags)."""
    info, tokenizer = loaded.info, loaded.tokenizer
    return {lang or "": list(tokenizer.prefix(lang, info.task_tag)) for lang in info.languages}


def vocabulary(tokenizer, *, source: bool = False) -> list[str]:
    """Every id's token as its tokenizer spells it (SentencePiece pieces, byte-level BPE names), in id order."""
    if source and hasattr(tokenizer, "source_pieces"):  # an imported Marian model's own source vocabulary
        return list(tokenizer.source_pieces)
    name = getattr(tokenizer, "token_name", tokenizer.piece)
    return [name(i) for i in range(tokenizer.vocab_size)]


def tokenizer_files(tokenizer, folder: Path) -> dict:
    """Write the files a runtime tokenizes with; returns their description for the metadata."""
    from s2s.data.text.tokenizer import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        (folder / "spm.model").write_bytes(tokenizer.model_bytes)
        return {"kind": "sentencepiece", "file": "spm.model"}
    if hasattr(tokenizer, "tokenizer_json"):  # Whisper's byte-level BPE, read by the `tokenizers` package
        (folder / "tokenizer.json").write_text(tokenizer.tokenizer_json, encoding="utf-8")
        return {"kind": "whisper", "file": "tokenizer.json"}
    return {"kind": "ids"}  # an imported Marian vocabulary: the runtime takes and returns ids


def describe(loaded: LoadedModel, engine: str, tokenizer: dict) -> dict:
    from s2s.inference.decoding_defaults import layered_options

    config, tokenizer_model = loaded.model.config, loaded.tokenizer
    # the length rule of `s2s translate|transcribe --beam 1` (the runtimes decode with the attention decoder alone)
    defaults = layered_options(loaded, {"beam_size": 1, "ctc_weight": 0.0})
    return {
        "format": FORMAT,
        "version": VERSION,
        "engine": engine,
        "encoder": config.encoder,
        "features": config.features if config.encoder == "audio" else None,
        "feature_dim": config.feature_dim,
        # the shortest input the audio front end reads: a runtime extends shorter batches (as the encoder does)
        "min_frames": loaded.model.encoder.subsample.min_frames if config.encoder == "audio" else 1,
        "decoder_layers": config.decoder_layers,
        "num_heads": config.num_heads,
        "head_dim": config.d_model // config.num_heads,
        "vocab_size": config.vocab_size,
        "max_positions": config.max_positions,
        "ctc": config.ctc,
        "pad_id": tokenizer_model.pad_id,
        "bos_id": tokenizer_model.bos_id,
        "eos_id": tokenizer_model.eos_id,
        "prefixes": prefixes(loaded),
        "suppress_ids": list(tokenizer_model.never_generated),
        "suppress_at_start": list(tokenizer_model.never_first),
        "special_ids": sorted(i for i in range(config.vocab_size) if tokenizer_model.is_special(i)),
        "max_len_a": defaults.max_len_a,
        "max_len_b": defaults.max_len_b,
        "tokenizer": tokenizer,
        "info": loaded.info.to_dict(),
    }


def write_metadata(folder: Path, metadata: dict) -> None:
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=1, default=str) + "\n", encoding="utf-8")


def read_metadata(folder: str | Path) -> dict:
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no {METADATA_FILE}: not a folder written by `s2s export onnx`")
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if metadata.get("format") != FORMAT or metadata.get("version", 0) > VERSION:
        raise ValueError(f"{path}: not an s2s export this version reads")
    return metadata


def prefix_for(metadata: dict, target_lang: str | None = None) -> list[int]:
    """The decoder prefix into ``target_lang`` (None: the model's only target language)."""
    prefixes = metadata["prefixes"]
    if target_lang is None and len(prefixes) > 1:
        raise ValueError(f"this model translates into {sorted(prefixes)}: choose one with target_lang")
    key = target_lang if target_lang is not None else next(iter(prefixes))
    if key not in prefixes:
        raise ValueError(f"this model's target languages are {sorted(prefixes)}, not {target_lang!r}")
    return prefixes[key]
