"""Self-contained checkpoints: weights, model config as plain data, tokenizer bytes.

Loading uses ``torch.load(weights_only=True)``, which only rebuilds tensors and plain
containers: a file whose pickle would construct arbitrary objects (and so run code) is
refused. Both the compact export (``s2s average``, ``model.pt``) and Lightning's training
checkpoints (``*.ckpt``, which carry an ``s2s`` entry) load through :func:`load_checkpoint`.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from s2s.data.text.marian_tokenizer import MarianTokenizer
from s2s.data.text.tokenizer import Tokenizer
from s2s.data.text.whisper_tokenizer import WhisperTokenizer
from s2s.errors import CheckpointError
from s2s.model.config import ModelConfig
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq

FORMAT_VERSION = 1


AnyTokenizer = Tokenizer | MarianTokenizer | WhisperTokenizer
IMPORTED_TOKENIZERS: dict[str, type[MarianTokenizer] | type[WhisperTokenizer]] = {
    "marian": MarianTokenizer,
    "whisper": WhisperTokenizer,
}  # by the "kind" of their state


@dataclass
class LoadedModel:
    model: Seq2Seq
    tokenizer: AnyTokenizer
    info: CheckpointInfo  # task, languages, decoding defaults, training step


def s2s_entry(config: ModelConfig, tokenizer: AnyTokenizer, info: CheckpointInfo) -> dict:
    """The plain-data part every checkpoint carries."""
    return {
        "format_version": FORMAT_VERSION,
        "model_config": config.to_dict(),
        "tokenizer": tokenizer_state(tokenizer),
        "info": info.to_dict(),
    }


def tokenizer_state(tokenizer: AnyTokenizer) -> bytes | dict:
    """Our SentencePiece model's bytes, or an imported model's tokenizer as a dict of plain data."""
    return tokenizer.model_bytes if isinstance(tokenizer, Tokenizer) else tokenizer.state()


def tokenizer_from_state(state: bytes | dict) -> AnyTokenizer:
    if isinstance(state, dict):
        kind = state.get("kind", "marian")
        if kind not in IMPORTED_TOKENIZERS:
            raise ValueError(f"unknown tokenizer kind {kind!r}")
        return IMPORTED_TOKENIZERS[kind].from_state(state)
    return Tokenizer(state)


def read_checkpoint(path: str | Path) -> dict:
    """Raw dict of a checkpoint file, refusing anything that is not plain data."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint is not a file: {path}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        unsafe = re.search(r"unsupported GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)", str(error))
        if unsafe:
            name = unsafe.group(1) or unsafe.group(2)
            raise CheckpointError(
                f"refusing to load {path}: it would construct the Python object {name}, which can run code"
            ) from None
        raise CheckpointError(f"{path} is not a readable checkpoint (not a torch file, or not plain data)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or not a torch file): {message.split('. ')[0][:160]}"
        ) from None
    except Exception as error:  # hostile bytes can trip the unpickler in other ways; never show a traceback
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(data, dict) or "s2s" not in data and "model_config" not in data:
        raise CheckpointError(f"{path} is a torch file but not an s2s checkpoint (no model config inside)")
    return data


def split_checkpoint(data: dict) -> tuple[dict, dict]:
    """``(s2s entry, model state_dict)`` from either checkpoint kind."""
    if "s2s" in data:  # a Lightning training checkpoint: weights are under "model."
        entry = data["s2s"]
        state = {k[len("model.") :]: v for k, v in data["state_dict"].items() if k.startswith("model.")}
        return entry, state
    return data, data["state_dict"]


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    entry, state = split_checkpoint(read_checkpoint(path))
    if entry.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer s2s (format {entry['format_version']})")
    try:
        config = ModelConfig.from_dict(dict(entry["model_config"]))
        tokenizer = tokenizer_from_state(entry["tokenizer"])
        info = CheckpointInfo.from_dict(dict(entry.get("info", {})))
        model = Seq2Seq(config)
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise CheckpointError(
            f"{path} is damaged or from an incompatible version: {str(error).splitlines()[0][:200]}"
        ) from None
    return LoadedModel(model.to(device).eval(), tokenizer, info)


def atomic_save(obj: dict, path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a power cut could otherwise undo it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def export_checkpoint(
    model: Seq2Seq, tokenizer: AnyTokenizer, info: CheckpointInfo, path: str | Path, state_dict: dict | None = None
) -> None:
    """Write the compact inference checkpoint (no optimizer state)."""
    entry = s2s_entry(model.config, tokenizer, info)
    entry["state_dict"] = state_dict if state_dict is not None else model.state_dict()
    atomic_save(entry, path)
