"""``s2s export onnx|ctranslate2 CKPT OUT``: a checkpoint as a model folder that runs without PyTorch.

onnx: ``encoder.onnx`` and ``decoder_step.onnx`` (one step, its self-attention cache as inputs and
outputs) for onnxruntime, decoded by ``s2s.export.onnx_runtime``. ctranslate2: a CTranslate2 model
(``ctranslate2.Translator`` for text models, ``ctranslate2.models.Whisper`` for Whisper-style speech
models). Both folders also hold the tokenizer and ``s2s_export.json`` (prefixes, suppressed ids,
length rule). See docs/guides/export.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from s2s.errors import ExportError

ENGINES = ("onnx", "ctranslate2")
PACKAGES = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "ctranslate2": ("ctranslate2",)}  # the export extra


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s2s export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("engine", choices=ENGINES, help="the runtime to export for")
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument("out", type=Path, help="the folder to write (created; must be empty if it exists)")
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    out = options.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not an empty folder: choose a new one")
    missing = [name for name in PACKAGES[options.engine] if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"export {options.engine} needs {', '.join(missing)}: pip install -e '.[export]'")
    from s2s.checkpoint import load_checkpoint

    loaded = load_checkpoint(options.checkpoint)
    if options.engine == "onnx":
        from s2s.export.onnx_export import export_onnx as export
    else:
        from s2s.export.ctranslate2_export import export_ctranslate2 as export
    # written beside OUT and renamed when complete: a refused or failed export leaves no half-written folder
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial"))
    try:
        export(loaded, partial)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    print(f"wrote {out}")
