"""``s2s analyze CKPT -i INPUTS --out DIR``: the attention-head report.

Runs the model on the inputs (text lines, or audio files for a speech model), measures where every head of encoder self-attention,
decoder self-attention and cross-attention puts its attention, and writes DIR/analysis.md (one
section per layer and head, in the template of the user's notes), DIR/heads.json (every figure)
and DIR/heatmaps/*.png. The measures are defined in docs/guides/analysis.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import add_decoding_arguments, check_device, decoding_dtype, decoding_options
from s2s.data.text.corpus import read_lines
from s2s.errors import DataError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument("-i", "--input", type=Path, nargs="+", required=True,
                   help="text files (one input sentence a line) or, for a speech model, audio files")
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument("--targets", type=Path, default=None,
                   help="teacher-force these lines (one per input sentence or audio file) instead of the model's own output")
    p.add_argument("--max-inputs", type=int, default=100, help="analyze the first N non-blank inputs (default 100)")
    p.add_argument("--examples", type=int, default=3, help="example sentences (and heatmaps) per head (default 3)")
    p.add_argument("--batch-size", type=int, default=16, help="inputs per forward pass (default 16)")
    p.add_argument("--wandb", action="store_true", help="also log the figures and heatmaps to a W&B run")
    p.add_argument("--wandb-project", default="s2s", help="W&B project (default s2s)")
    p.add_argument("--wandb-name", default=None, help="W&B run name (default: analyze-<checkpoint name>)")
    add_decoding_arguments(p)
    p.set_defaults(beam=1)  # the report reads the model's attention, not its best translation
    for action in p._actions:
        if action.dest == "beam":
            action.help = "beam size for the model's own output; 1 = greedy (default 1)"
    return p


def read_inputs(options: argparse.Namespace, audio: bool) -> tuple[list[str], list[str] | None]:
    """The inputs (lines of the text files, or the audio paths) and the aligned --targets lines."""
    if options.max_inputs < 1 or options.examples < 1 or options.batch_size < 1:
        raise ValueError("--max-inputs, --examples and --batch-size must be at least 1")
    if audio:
        inputs = [str(path) for path in options.input]
    else:
        inputs = [line for path in options.input for line in read_lines(path)]
    targets = read_lines(options.targets) if options.targets is not None else None
    if targets is not None and len(targets) != len(inputs):
        raise DataError(f"{len(inputs)} inputs but {options.targets} has {len(targets)} lines")
    keep = [i for i, text in enumerate(inputs) if text.strip()][: options.max_inputs]
    return [inputs[i] for i in keep], None if targets is None else [targets[i] for i in keep]


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    audio = getattr(loaded.model.config, "encoder", "text") == "audio"
    lines, target_lines = read_inputs(options, audio)

    from s2s.analysis.collect import collect_attention
    from s2s.analysis.heads import summarize
    from s2s.analysis.report import write_report

    if audio:
        from s2s.analysis.audio_inputs import AudioInputs as Side
    else:
        from s2s.analysis.inputs import TextInputs as Side
    decoding = decoding_options(options, loaded)
    side = Side(loaded, options=decoding, target_lang=options.tgt_lang,
                device=check_device(options.device), dtype=decoding_dtype(options))
    items = side.read(lines)
    targets = None if target_lines is None else [loaded.tokenizer.encode(t.strip()) for t in target_lines]
    examples = collect_attention(side, side.model, items, targets=targets, batch_size=options.batch_size)
    summaries = summarize(examples, top=options.examples)
    meta = {"checkpoint": str(options.checkpoint), "inputs": [str(p) for p in options.input], "count": len(examples),
            "decoder_side": "teacher-forced --targets" if targets is not None else f"model output (beam {decoding.beam_size})",
            "model": loaded.model.config.to_dict(), "task": loaded.info.task, "step": loaded.info.step}
    files = write_report(summaries, examples, options.out, meta=meta)
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s.pattern] = counts.get(s.pattern, 0) + 1
    found = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(f"wrote {files.markdown} ({len(summaries)} heads: {found}), {files.json}, "
          f"{len(files.heatmaps)} heatmaps", file=sys.stderr)
    if options.wandb:
        from s2s.analysis.dashboard import log_report_to_wandb

        name = options.wandb_name or f"analyze-{options.checkpoint.stem}"
        run_dir = log_report_to_wandb(files, summaries, project=options.wandb_project, name=name, out=options.out,
                                      config=meta)
        print(f"logged to W&B: {run_dir}", file=sys.stderr)
