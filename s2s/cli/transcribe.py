"""``s2s transcribe CKPT FILE...``: speech to text (or to another language) with a speech checkpoint.

Any format soundfile reads (wav, flac, ogg, mp3...), any sample rate or channel count. Long
recordings are decoded in overlapping windows and merged. Output goes to stdout, or with
``-o DIR`` to ``DIR/<file name>.<format>`` per input. A file that cannot be read gets one
error line and the others are still transcribed; the exit status is then non-zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import add_decoding_arguments, apply_head_mask, check_device, decoding_dtype, decoding_options, refuse_text_only_options
from s2s.errors import DataError
from s2s.inference.transcriber import Transcriber, Transcript

FORMATS = ("txt", "json", "srt")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s transcribe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt of a speech model")
    p.add_argument("files", type=Path, nargs="+", help="audio files")
    p.add_argument("--format", choices=FORMATS, default="txt",
                   help="txt: the text (FILE<TAB>text with several files); json: one object per file with "
                        "timed segments; srt: subtitles, one cue per segment (default txt)")
    p.add_argument("-o", "--output-dir", type=Path, default=None, help="write DIR/<file name>.<format> per input")
    p.add_argument("--window", type=float, default=None,
                   help="seconds decoded at once (default 20; a Whisper model's 30, padded with silence)")
    p.add_argument("--overlap", type=float, default=2.0, help="seconds shared by consecutive windows (default 2)")
    p.add_argument("--task", choices=["transcribe", "translate"], default=None,
                   help="task tag of a multi-task model (default: the one it was trained for)")
    p.add_argument("--language", default=None,
                   help="the spoken language (e.g. de) of a multilingual Whisper model; with --task translate "
                        "it writes English")
    p.add_argument("--timestamps", action="store_true",
                   help="Whisper models: time each segment by the model's timestamp tokens (json and srt "
                        "show them) instead of one segment per window")
    add_decoding_arguments(p)
    return p


def srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def render(transcript: Transcript, fmt: str, several: bool) -> str:
    if fmt == "json":
        return json.dumps({"file": transcript.path, "duration": transcript.duration, "text": transcript.text,
                           "segments": [dataclasses.asdict(s) for s in transcript.segments]}, ensure_ascii=False) + "\n"
    if fmt == "srt":
        cues = [s for s in transcript.segments if s.text]
        return "".join(f"{n}\n{srt_time(s.start)} --> {srt_time(s.end)}\n{s.text}\n\n" for n, s in enumerate(cues, 1))
    return (f"{transcript.path}\t{transcript.text}" if several else transcript.text) + "\n"


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.format == "srt" and len(options.files) > 1 and options.output_dir is None:
        raise ValueError("--format srt with several files needs --output-dir (one subtitle file per input)")
    refuse_text_only_options(options)
    loaded = load_checkpoint(options.checkpoint)
    decoding = decoding_options(options, loaded)
    apply_head_mask(loaded.model, options)
    transcriber = Transcriber(loaded, options=decoding, target_lang=options.tgt_lang, task=options.task,
                              language=options.language, timestamps=options.timestamps, window=options.window, overlap=options.overlap, device=check_device(options.device),
                              dtype=decoding_dtype(options), workers=options.workers)
    if options.output_dir is not None:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    several, failed = len(options.files) > 1, 0
    with Progress(TextColumn("transcribing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not several) as progress:
        task = progress.add_task("files", total=len(options.files))
        for transcript in transcriber.transcribe_files(options.files):
            progress.advance(task)
            if transcript.error:
                failed += 1
                progress.console.print(f"s2s transcribe: error: {transcript.error}", markup=False, highlight=False,
                                       soft_wrap=True)
                continue
            text = render(transcript, options.format, several and options.output_dir is None)
            if options.output_dir is not None:
                (options.output_dir / f"{Path(transcript.path).name}.{options.format}").write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
                sys.stdout.flush()
    if failed:
        raise DataError(f"{failed} of {len(options.files)} file(s) could not be transcribed")
