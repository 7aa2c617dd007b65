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
from typing import TYPE_CHECKING

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import add_decoding_arguments, apply_head_mask, check_device, decoding_dtype, decoding_options
from s2s.data.text.corpus import read_lines
from s2s.errors import DataError

if TYPE_CHECKING:
    from s2s.analysis.audio_inputs import AudioInputs
    from s2s.analysis.inputs import TextInputs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s2s analyze", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument(
        "-i",
        "--input",
        type=Path,
        nargs="+",
        required=True,
        help="text files (one input sentence a line) or, for a speech model, audio files",
    )
    p.add_argument("--out", type=Path, required=True, help="report folder (created)")
    p.add_argument(
        "--targets",
        type=Path,
        default=None,
        help="teacher-force these lines (one per input sentence or audio file) instead of the model's own output",
    )
    p.add_argument("--max-inputs", type=int, default=100, help="analyze the first N non-blank inputs (default 100)")
    p.add_argument("--examples", type=int, default=3, help="example sentences (and heatmaps) per head (default 3)")
    p.add_argument("--batch-size", type=int, default=16, help="inputs per forward pass (default 16)")
    g = p.add_argument_group("importance and training-data measures (docs/guides/analysis.md)")
    g.add_argument(
        "--heldout",
        type=Path,
        nargs=2,
        metavar=("SRC", "REF"),
        default=None,
        help="text models: held-out sources and references to measure each head's importance on",
    )
    g.add_argument(
        "--heldout-manifest",
        type=Path,
        default=None,
        help="speech models: a manifest TSV (audio + transcript) to measure importance on",
    )
    g.add_argument("--heldout-max", type=int, default=200, help="use the first N held-out pairs (default 200)")
    g.add_argument(
        "--importance",
        choices=["both", "masking", "gradient"],
        default="both",
        help="masking: BLEU/WER with each head masked (one decoding per head); gradient: Michel et "
        "al.'s estimate (one backward pass per batch); default both",
    )
    g.add_argument(
        "--normalize",
        choices=["whisper"],
        default=None,
        help="speech: score the held-out WER after Whisper's English normalizer",
    )
    g.add_argument(
        "--corpus",
        type=Path,
        nargs=2,
        metavar=("SRC", "TGT"),
        default=None,
        help="text models: the training corpus, for token frequencies (rare-token heads) and the "
        "eflomal word alignment cross-attention is compared with",
    )
    g.add_argument("--corpus-max", type=int, default=None, help="read only the first N corpus pairs")
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


def heldout_set(side, options: argparse.Namespace, audio: bool, task: str | None):
    """The held-out pairs importance is measured on, or None when none was given."""
    from s2s.analysis.importance import HeldOut

    tokenizer = side.tokenizer
    encode_target = getattr(tokenizer, "encode_target", tokenizer.encode)
    if audio and options.heldout_manifest is not None:
        from s2s.data.speech.manifest import read_manifest

        rows = read_manifest(options.heldout_manifest)[: options.heldout_max]
        if not rows:
            raise DataError(f"{options.heldout_manifest} lists no utterances")
        items = side.read([str(r.audio) for r in rows])
        references = [r.target for r in rows]
        metric = "wer" if task in (None, "asr") else "bleu"  # speech translation is scored by BLEU
    elif options.heldout is not None:
        from s2s.data.text.corpus import read_parallel

        pairs = [(s, r) for s, r in zip(*read_parallel(*options.heldout)) if s.strip()][: options.heldout_max]
        if not pairs:
            raise DataError(f"{options.heldout[0]} holds no sentences")
        items = side.read([s for s, _ in pairs])
        references = [r.strip() for _, r in pairs]
        metric = "bleu"
    else:
        return None
    return HeldOut(
        side,
        items,
        references,
        [encode_target(r) for r in references],
        metric,
        normalize=options.normalize,
        batch_size=options.batch_size,
    )


def check_extra_options(options: argparse.Namespace, audio: bool) -> None:
    """Refuse options that do not fit the model before any long work starts."""
    if options.heldout_max < 1:
        raise ValueError("--heldout-max must be at least 1")
    if audio and (options.heldout is not None or options.corpus is not None):
        raise ValueError("this is a speech model: give --heldout-manifest TSV (--heldout and --corpus are for text)")
    if not audio and options.heldout_manifest is not None:
        raise ValueError("this is a text model: give --heldout SRC REF (--heldout-manifest is for speech)")
    if options.normalize is not None and not audio:
        raise ValueError("--normalize applies to speech models' WER")


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    loaded = load_checkpoint(options.checkpoint)
    masked = apply_head_mask(loaded.model, options)
    audio = getattr(loaded.model.config, "encoder", "text") == "audio"
    lines, target_lines = read_inputs(options, audio)
    check_extra_options(options, audio)

    from s2s.analysis.alignment import align_outputs
    from s2s.analysis.collect import collect_attention
    from s2s.analysis.corpus import TrainingCorpus
    from s2s.analysis.heads import summarize
    from s2s.analysis.importance import attach_importance
    from s2s.analysis.report import write_report

    Side: type[AudioInputs] | type[TextInputs]
    if audio:
        from s2s.analysis.audio_inputs import AudioInputs as Side
    else:
        from s2s.analysis.inputs import TextInputs as Side
    decoding = decoding_options(options, loaded)
    side = Side(
        loaded,
        options=decoding,
        target_lang=options.tgt_lang,
        device=check_device(options.device),
        dtype=decoding_dtype(options),
    )
    items = side.read(lines)
    targets = None if target_lines is None else [loaded.tokenizer.encode(t.strip()) for t in target_lines]
    decoder_side = "teacher-forced --targets" if targets is not None else f"model output (beam {decoding.beam_size})"
    links = None
    if options.corpus is not None:
        from s2s.analysis.inputs import TextInputs

        assert isinstance(side, TextInputs)  # --corpus is refused for speech models above
        source, target = options.corpus
        corpus = TrainingCorpus.read(loaded.tokenizer, source, target, limit=options.corpus_max)
        side.frequencies = corpus.source_frequencies()
        if targets is None:  # the outputs are aligned with the corpus, so decode them first
            targets = [
                out
                for start in range(0, len(items), options.batch_size)
                for out in side.decode(items[start : start + options.batch_size])
            ]
        links = align_outputs(loaded.tokenizer, corpus, items, targets, side.prefix)
    examples = collect_attention(side, side.model, items, targets=targets, batch_size=options.batch_size, links=links)
    summaries = summarize(examples, top=options.examples)
    importance = None
    heldout = heldout_set(side, options, audio, loaded.info.task)
    if heldout is not None:
        importance = attach_importance(
            side.model, heldout, summaries, how=options.importance, pad_id=loaded.tokenizer.pad_id
        )
    meta = {
        "checkpoint": str(options.checkpoint),
        "inputs": [str(p) for p in options.input],
        "count": len(examples),
        "decoder_side": decoder_side,
        "masked_heads": masked,
        "corpus": [str(p) for p in options.corpus or ()],
        "model": loaded.model.config.to_dict(),
        "task": loaded.info.task,
        "step": loaded.info.step,
    }
    files = write_report(summaries, examples, options.out, meta=meta, importance=importance)
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s.pattern] = counts.get(s.pattern, 0) + 1
    found = ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    picture = f", {files.importance}" if files.importance else ""
    print(
        f"wrote {files.markdown} ({len(summaries)} heads: {found}), {files.json}, "
        f"{len(files.heatmaps)} heatmaps{picture}",
        file=sys.stderr,
    )
    if options.wandb:
        from s2s.analysis.dashboard import log_report_to_wandb

        name = options.wandb_name or f"analyze-{options.checkpoint.stem}"
        run_dir = log_report_to_wandb(
            files, summaries, project=options.wandb_project, name=name, out=options.out, config=meta
        )
        print(f"logged to W&B: {run_dir}", file=sys.stderr)
