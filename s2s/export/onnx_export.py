"""``s2s export onnx``: a checkpoint -> ``encoder.onnx`` + ``decoder_step.onnx`` + tokenizer + ``s2s_export.json``.

Both graphs come from ``torch.onnx.export`` (the ``torch.export`` path) over ``s2s.export.onnx_graphs``,
with every size that varies at run time dynamic: batch, source length, the cached prefix (from 0)
and the new tokens. After writing, the graphs are run by onnxruntime on the export's example
inputs and compared with torch; a mismatch fails the export instead of leaving a wrong model.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.export import Dim

from s2s.checkpoint import LoadedModel
from s2s.errors import ExportError
from s2s.export.metadata import describe, tokenizer_files, write_metadata
from s2s.export.onnx_graphs import DecoderStepGraph, EncoderGraph
from s2s.export.onnx_runtime import DECODER_STEP_FILE, ENCODER_FILE
from s2s.nn.linear import prepacking

OPSET = 18
TOLERANCE = 1e-3  # largest difference allowed between onnxruntime's and torch's outputs, relative to their scale
EXAMPLE_FRAMES = 64  # audio example input: enough frames for every front end's receptive field


def cache_names(layers: int, kinds: tuple[str, ...]) -> list[str]:
    return [f"{kind}_{kv}_{i}" for i in range(layers) for kind in kinds for kv in "kv"]


def example_source(model) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of two sources of different lengths, the second padded."""
    config = model.config
    if config.encoder == "audio":
        frames = max(EXAMPLE_FRAMES, model.encoder.subsample.min_frames + 8)
        return torch.randn(2, frames, config.feature_dim) * 4 - 4, torch.tensor([frames, frames - 5])
    ids = torch.randint(4, config.src_vocab_size, (2, 9))
    return ids, torch.tensor([9, 6])


def export_graph(
    graph, args: tuple, path: Path, input_names: list[str], output_names: list[str], dynamic_shapes, external_data: bool
) -> None:
    # torch.onnx prints its progress and warns about optional packages: keep the command's output to its result
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                args,
                str(path),
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=dynamic_shapes,
                opset_version=OPSET,
                external_data=external_data,
                verbose=False,
            )
    finally:
        logger.setLevel(level)


def check_graph(path: Path, feeds: dict[str, torch.Tensor], expected: tuple[torch.Tensor, ...]) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {name: value.numpy() for name, value in feeds.items()})
    for name, ours, theirs in zip((o.name for o in session.get_outputs()), expected, outputs):
        ours = ours.numpy()
        if ours.shape != theirs.shape:
            raise ExportError(f"{path.name}: onnxruntime's {name} has shape {theirs.shape}, torch's {ours.shape}")
        if ours.dtype == np.bool_:
            if not np.array_equal(ours, theirs):
                raise ExportError(f"{path.name}: onnxruntime's {name} differs from torch's")
            continue
        finite = np.isfinite(ours)
        scale = max(1.0, float(np.abs(ours[finite]).max(initial=0.0)))
        if (
            not np.array_equal(finite, np.isfinite(theirs))
            or np.abs(ours[finite] - theirs[finite]).max(initial=0.0) > TOLERANCE * scale
        ):
            raise ExportError(f"{path.name}: onnxruntime's {name} differs from torch's beyond {TOLERANCE} of its scale")


def export_onnx(loaded: LoadedModel, out: Path) -> None:
    model = loaded.model.float().eval()
    config = model.config
    out.mkdir(parents=True, exist_ok=True)
    external_data = sum(p.numel() for p in model.parameters()) * 4 > 1.5 * 2**30  # protobuf's 2 GiB limit
    batch, source_len = Dim("batch", min=1, max=4096), Dim("source_len", min=1, max=1 << 20)
    memory_len = Dim("memory_len", min=1, max=1 << 20)
    past, new = Dim("past", min=0, max=config.max_positions), Dim("new", min=1, max=config.max_positions)
    layers = config.decoder_layers
    source, lengths = example_source(model)
    torch.manual_seed(0)
    # Gradients stay on while tracing: the inference-only paths of s2s.nn.linear (packed and cached stacked
    # weights) read data pointers, which torch.export cannot trace; with gradients the plain products run.
    with prepacking(False):
        encoder = EncoderGraph(model)
        encoded = tuple(t.detach() for t in encoder(source, lengths))
        encoder_outputs = ["memory_mask", *cache_names(layers, ("cross",))] + (["ctc_log_probs"] if config.ctc else [])
        source_shape = {0: batch, 1: source_len}
        export_graph(
            encoder,
            (source, lengths),
            out / ENCODER_FILE,
            ["source", "source_lengths"],
            encoder_outputs,
            {"source": source_shape, "source_lengths": {0: batch}},
            external_data,
        )
        check_graph(out / ENCODER_FILE, {"source": source, "source_lengths": lengths}, encoded)

        step = DecoderStepGraph(model)
        memory_mask, cross = encoded[0], encoded[1 : 1 + 2 * layers]
        tokens = torch.randint(4, config.vocab_size, (2, 3))
        past_kv = [torch.randn(2, config.num_heads, 4, config.d_model // config.num_heads) for _ in range(2 * layers)]
        caches = [t for i in range(layers) for t in (*cross[2 * i : 2 * i + 2], *past_kv[2 * i : 2 * i + 2])]
        expected = tuple(t.detach() for t in step(tokens, memory_mask, *caches))
        cache_shapes = [{0: batch, 2: memory_len}] * 2 + [{0: batch, 2: past}] * 2
        inputs = ["tokens", "memory_mask", *cache_names(layers, ("cross", "past"))]
        export_graph(
            step,
            (tokens, memory_mask, *caches),
            out / DECODER_STEP_FILE,
            inputs,
            ["logits", *cache_names(layers, ("present",))],
            {
                "tokens": {0: batch, 1: new},
                "memory_mask": {0: batch, 1: memory_len},
                "caches": tuple(cache_shapes * layers),
            },
            external_data,
        )
        check_graph(out / DECODER_STEP_FILE, dict(zip(inputs, (tokens, memory_mask, *caches))), expected)
    write_metadata(out, describe(loaded, "onnx", tokenizer_files(loaded.tokenizer, out)))
