"""``s2s transcribe CKPT FILE...``: speech to text (or to another language) with a speech checkpoint.

Any format soundfile reads (wav, flac, ogg, mp3...), any sample rate or channel count. Recordings
longer than a window are cut where voice activity pauses (``--no-vad``: overlapping fixed windows,
merged). Output goes to stdout, or with
``-o DIR`` to ``DIR/<file name>.<format>`` per input. A file that cannot be read gets one
error line and the others are still transcribed; the exit status is then non-zero.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import (
    add_decoding_arguments,
    apply_head_mask,
    check_device,
    decoding_dtype,
    decoding_options,
    refuse_text_only_options,
)
from s2s.errors import DataError
from s2s.inference.no_speech import DEFAULT_LOGPROB_THRESHOLD, NoSpeechRule
from s2s.inference.segments import Transcript
from s2s.inference.transcriber import Transcriber
from s2s.inference.vad import VadOptions

FORMATS = ("txt", "json", "srt")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="s2s transcribe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt of a speech model")
    p.add_argument("files", type=Path, nargs="+", help="audio files")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="txt",
        help="txt: the text (FILE<TAB>text with several files); json: one object per file with "
        "timed segments; srt: subtitles, one cue per segment (default txt)",
    )
    p.add_argument("-o", "--output-dir", type=Path, default=None, help="write DIR/<file name>.<format> per input")
    p.add_argument(
        "--window",
        type=float,
        default=None,
        help="seconds decoded at once (default 20; a Whisper model's 30, padded with silence)",
    )
    p.add_argument("--overlap", type=float, default=2.0, help="seconds shared by consecutive windows (default 2)")
    p.add_argument(
        "--task",
        choices=["transcribe", "translate"],
        default=None,
        help="task tag of a multi-task model (default: the one it was trained for)",
    )
    p.add_argument(
        "--language",
        default=None,
        help="the spoken language (e.g. de) of a multilingual Whisper model; with --task translate it writes English",
    )
    p.add_argument(
        "--timestamps",
        action="store_true",
        help="Whisper models: time each segment by the model's timestamp tokens (json and srt "
        "show them) instead of one segment per window",
    )
    g = p.add_argument_group("long recordings, silence and word times")
    g.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cut windows where voice activity (Silero VAD) pauses and skip what holds no speech "
        "(default: for recordings longer than a window; --no-vad: overlapping fixed windows)",
    )
    g.add_argument(
        "--vad-threshold",
        type=float,
        default=VadOptions.threshold,
        help=f"speech probability of a 32 ms frame above which it is speech (default {VadOptions.threshold})",
    )
    g.add_argument(
        "--vad-min-silence",
        type=float,
        default=VadOptions.min_silence,
        help=f"seconds of pause that end a stretch of speech (default {VadOptions.min_silence})",
    )
    g.add_argument(
        "--vad-pad",
        type=float,
        default=VadOptions.pad,
        help=f"seconds of audio kept around each stretch of speech (default {VadOptions.pad})",
    )
    g.add_argument(
        "--no-speech-threshold",
        type=float,
        default=None,
        help="Whisper models: drop a window's text when P(<|nospeech|>) exceeds this and the text's "
        "mean token log-probability is below --logprob-threshold (Whisper's rule; e.g. 0.6)",
    )
    g.add_argument(
        "--logprob-threshold",
        type=float,
        default=DEFAULT_LOGPROB_THRESHOLD,
        help="with --no-speech-threshold: texts surer than this mean token log-probability are kept "
        f"(default {DEFAULT_LOGPROB_THRESHOLD}, Whisper's; 0: the no-speech probability alone decides)",
    )
    g.add_argument(
        "--word-timestamps",
        action="store_true",
        help="time every word (CTC alignment, or Whisper's cross-attention DTW): json segments get "
        "words with start, end and probability",
    )
    g.add_argument(
        "--srt-by",
        choices=["segments", "words"],
        default="segments",
        help="srt cues: one per segment, or one per word (needs --word-timestamps)",
    )
    g.add_argument(
        "--lm",
        type=Path,
        default=None,
        help="shallow fusion with an n-gram LM over the model's pieces (ARPA or kenlm binary; "
        "built by tools/build_ngram.py)",
    )
    g.add_argument("--lm-weight", type=float, default=0.3, help="weight of the LM's log-probability (default 0.3)")
    add_decoding_arguments(p)
    return p


def srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def segment_record(segment, words: bool) -> dict:
    record = dataclasses.asdict(segment)
    if not words:
        del record["words"]
    return record


def render(transcript: Transcript, fmt: str, several: bool, words: bool = False, srt_by: str = "segments") -> str:
    if fmt == "json":
        segments = [segment_record(s, words) for s in transcript.segments]
        return (
            json.dumps(
                {
                    "file": transcript.path,
                    "duration": transcript.duration,
                    "text": transcript.text,
                    "segments": segments,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    if fmt == "srt":
        if srt_by == "words":
            cues = [(w.start, w.end, w.word) for s in transcript.segments for w in s.words]
        else:
            cues = [(s.start, s.end, s.text) for s in transcript.segments if s.text]
        return "".join(
            f"{n}\n{srt_time(start)} --> {srt_time(end)}\n{text}\n\n" for n, (start, end, text) in enumerate(cues, 1)
        )
    return (f"{transcript.path}\t{transcript.text}" if several else transcript.text) + "\n"


def throughput(audio_seconds: float, wall_seconds: float) -> str:
    """``1.25 h of audio, RTF 0.08``: audio done so far and the real-time factor (wall time / audio time)."""
    return f"{audio_seconds / 3600:.2f} h of audio, RTF {wall_seconds / max(audio_seconds, 1e-9):.3f}"


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if options.format == "srt" and len(options.files) > 1 and options.output_dir is None:
        raise ValueError("--format srt with several files needs --output-dir (one subtitle file per input)")
    if options.srt_by == "words" and not options.word_timestamps:
        raise ValueError("--srt-by words needs --word-timestamps")
    refuse_text_only_options(options)
    loaded = load_checkpoint(options.checkpoint)
    decoding = decoding_options(options, loaded)
    apply_head_mask(loaded.model, options)
    transcriber = Transcriber(
        loaded,
        options=decoding,
        target_lang=options.tgt_lang,
        task=options.task,
        language=options.language,
        timestamps=options.timestamps,
        window=options.window,
        overlap=options.overlap,
        device=check_device(options.device),
        dtype=decoding_dtype(options),
        workers=options.workers,
        vad=options.vad,
        vad_options=VadOptions(options.vad_threshold, options.vad_min_silence, options.vad_pad),
        no_speech=None
        if options.no_speech_threshold is None
        else NoSpeechRule(options.no_speech_threshold, options.logprob_threshold),
        word_timestamps=options.word_timestamps,
        lm=options.lm,
        lm_weight=options.lm_weight,
    )
    if options.output_dir is not None:
        options.output_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    several, failed = len(options.files) > 1, 0
    audio_seconds, started = 0.0, time.perf_counter()
    with Progress(
        TextColumn("transcribing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not several,
    ) as progress:
        task = progress.add_task("files", total=len(options.files), speed="")
        for transcript in transcriber.transcribe_files(options.files):
            audio_seconds += transcript.duration
            progress.update(task, advance=1, speed=throughput(audio_seconds, time.perf_counter() - started))
            if transcript.error:
                failed += 1
                progress.console.print(
                    f"s2s transcribe: error: {transcript.error}", markup=False, highlight=False, soft_wrap=True
                )
                continue
            text = render(
                transcript,
                options.format,
                several and options.output_dir is None,
                options.word_timestamps,
                options.srt_by,
            )
            if options.output_dir is not None:
                (options.output_dir / f"{Path(transcript.path).name}.{options.format}").write_text(
                    text, encoding="utf-8"
                )
            else:
                sys.stdout.write(text)
                sys.stdout.flush()
    if failed:
        raise DataError(f"{failed} of {len(options.files)} file(s) could not be transcribed")
