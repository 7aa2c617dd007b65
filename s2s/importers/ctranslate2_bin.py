"""Read a CTranslate2 ``model.bin`` into torch tensors, without importing ``ctranslate2``.

The layout (all little-endian) is the one written by ``ctranslate2/specs/model_spec.py``
(``ModelSpec._serialize``) and read by ``src/models/model.cc`` (``Model::load``)::

    uint32 binary version                                      1..6
    string spec name, uint32 spec revision                     version >= 2
    uint32 variable count, then per variable:
        string name, uint8 rank, rank x uint32 dims,
        uint8 type id, uint32 byte count                       version >= 4
        uint8 item size, uint32 element count                  version <= 3
        the raw bytes (row-major)
    uint32 alias count, then per alias: string alias, string target   version >= 3

where a string is a uint16 length (NUL included), the UTF-8 bytes and a NUL. Versions 5 and 6
change how the C++ side interprets the weights (rounding before the int8 cast; the tokens moving
to ``config.json``), not the layout. Non-tensor attributes are variables too: a bool is an int8
scalar, a float a float32 scalar, and a string (before version 6) an int8 vector of its bytes.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

SUPPORTED_VERSIONS = range(1, 7)
# CTranslate2's DataType enum (include/ctranslate2/types.h), in id order.
TYPE_IDS = dict(enumerate((torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)))
# Versions <= 3 stored the item size instead of a type id, read as CTranslate2 reads it (no float16 then).
ITEM_SIZES = {4: torch.float32, 2: torch.int16, 1: torch.int8}
# int16 weights that older converters saved without a scale use this one (Quantize::global_int16_scale).
GLOBAL_INT16_SCALE = 1000.0


@dataclass(frozen=True)
class CTranslate2Model:
    """The variables of a model.bin as stored (quantized ones stay quantized), plus its aliases."""

    version: int
    spec: str  # e.g. "WhisperSpec"; "" for version 1, which did not record it
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]  # alias -> stored name; the writer drops duplicated weights this way

    def tensor(self, name: str) -> torch.Tensor:
        """The variable ``name`` (an alias or a stored name) in float32 when it holds real numbers.

        float16/bfloat16 are widened and int8/int16 weights dequantized with their ``<name>_scale``
        (``float = int / scale``; one scale per output row for int8, a scalar for int16), so callers
        see the weights whatever quantization the model was converted with. Other integers (flags,
        token ids, strings) come back as stored.
        """
        stored = self.aliases.get(name, name)
        if stored not in self.variables:
            raise KeyError(f"model.bin has no variable {name!r}")
        value = self.variables[stored]
        if value.is_floating_point():
            return value.float()
        # Like CTranslate2 (Model::is_quantizable), only "...weight" variables are quantized.
        if value.dtype not in (torch.int8, torch.int16) or not stored.endswith("weight"):
            return value
        scale = self.variables.get(stored + "_scale")
        if scale is None and value.dtype == torch.int16:
            scale = torch.tensor(GLOBAL_INT16_SCALE)
        if scale is None:
            raise ValueError(f"model.bin: quantized variable {stored!r} has no {stored + '_scale'!r}")
        return dequantize(value, scale)


def dequantize(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``value / scale`` with one scale per leading row (a conv weight's rows are its output channels)."""
    rows = value.float().reshape(scale.numel(), -1)  # (R, everything else); R = 1 for a scalar scale
    return (rows / scale.float().reshape(-1, 1)).reshape(value.shape)


class _Cursor:
    """Sequential reads from the file; a short read anywhere means the file is truncated."""

    def __init__(self, file: io.BufferedIOBase, name: str) -> None:
        self.file, self.name = file, name
        self.size = os.fstat(file.fileno()).st_size

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        data = self.file.read(size)
        if len(data) != size:
            raise ValueError(f"{self.name}: truncated at {what}")
        return struct.unpack(fmt, data)

    def string(self, what: str) -> str:
        (length,) = self.unpack("<H", what)  # NUL included
        raw = self.file.read(length)
        if len(raw) != length:
            raise ValueError(f"{self.name}: truncated at {what}")
        if length == 0 or raw[-1] != 0:
            raise ValueError(f"{self.name}: malformed string at {what}")
        return raw[:-1].decode("utf-8", errors="replace")

    def tensor(self, shape: tuple[int, ...], dtype: torch.dtype, what: str) -> torch.Tensor:
        """Read straight into a new tensor: one copy, into memory that torch owns and aligns."""
        # Checked before allocating, so that a corrupt shape cannot claim gigabytes first.
        if math.prod(shape) * dtype.itemsize > self.size - self.file.tell():
            raise ValueError(f"{self.name}: truncated at {what}")
        tensor = torch.empty(shape, dtype=dtype)
        buffer = tensor.reshape(-1).view(torch.uint8).numpy()  # (numel * itemsize,), sharing memory
        if self.file.readinto(buffer) != buffer.size:  # type: ignore[arg-type]  # numpy's stubs: a buffer on 3.12+ only
            raise ValueError(f"{self.name}: truncated at {what}")
        return tensor


def _read_variable(cursor: _Cursor, version: int, index: int) -> tuple[str, torch.Tensor]:
    name = cursor.string(f"variable #{index}")
    what = f"variable {name!r}"
    (rank,) = cursor.unpack("<B", what)
    shape = cursor.unpack(f"<{rank}I", what)
    code, count = cursor.unpack("<BI", what)
    dtypes = TYPE_IDS if version >= 4 else ITEM_SIZES
    if code not in dtypes:
        raise ValueError(f"{cursor.name}: unknown data type {code} for {what}")
    dtype = dtypes[code]
    num_bytes = count if version >= 4 else count * dtype.itemsize
    if num_bytes != math.prod(shape) * dtype.itemsize:
        raise ValueError(f"{cursor.name}: {what} has {num_bytes} bytes for shape {list(shape)} {dtype}")
    return name, cursor.tensor(shape, dtype, what)


def read_model_bin(path: str | Path) -> CTranslate2Model:
    """Parse ``path`` (a model.bin). Anything but a complete, supported file raises ``ValueError``."""
    path = Path(path)
    with path.open("rb") as file:
        cursor = _Cursor(file, str(path))
        (version,) = cursor.unpack("<I", "the binary version")
        if version not in SUPPORTED_VERSIONS:
            raise ValueError(f"{path}: not a CTranslate2 model.bin (binary version {version})")
        spec, revision = "", 1
        if version >= 2:
            spec = cursor.string("the spec name")
            (revision,) = cursor.unpack("<I", "the spec revision")
        (count,) = cursor.unpack("<I", "the variable count")
        variables = dict(_read_variable(cursor, version, i) for i in range(count))
        aliases = {}
        if version >= 3:
            (count,) = cursor.unpack("<I", "the alias count")
            for i in range(count):
                alias = cursor.string(f"alias #{i}")
                aliases[alias] = cursor.string(f"alias {alias!r}")
        if file.read(1):
            raise ValueError(f"{path}: unexpected bytes after the end of the model")
    return CTranslate2Model(version, spec, revision, variables, aliases)


def read_config(folder: str | Path) -> dict:
    """The ``config.json`` the converter writes beside model.bin (tokens, alignment heads...); {} if absent."""
    config = Path(folder) / "config.json"
    return json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
