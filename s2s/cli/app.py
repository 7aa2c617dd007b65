"""``s2s app CKPT``: a Gradio page in the browser: translate with the cross-attention heatmap, transcribe
an uploaded or recorded file, browse an attention-head report. Needs ``pip install -e '.[app]'``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from s2s.checkpoint import load_checkpoint
from s2s.errors import ConfigError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s app", description=__doc__)
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument("--report", type=Path, default=None, help="an `s2s analyze --out` folder to browse")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's decoding, else 5)")
    p.add_argument("--tgt-lang", default=None, help="target language of a multilingual model")
    return p


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    if not 1024 <= options.port <= 65535:
        raise ValueError(f"--port {options.port}: give a port from 1024 to 65535")
    if options.beam is not None and options.beam < 1:
        raise ValueError(f"--beam must be >= 1, got {options.beam}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the page calls no one
    try:
        from s2s.serving.app import build_app
    except ImportError as error:
        raise ConfigError(f"s2s app needs Gradio ({error.name} is missing): pip install -e '.[app]'") from None
    from s2s.serving.head_report import HeadReport

    loaded = load_checkpoint(options.checkpoint)
    report = HeadReport(options.report) if options.report is not None else None
    app = build_app(str(options.checkpoint), loaded, beam=options.beam, tgt_lang=options.tgt_lang, report=report)
    print(f"s2s app: http://{options.host}:{options.port}", flush=True)
    app.launch(server_name=options.host, server_port=options.port, share=False, show_error=True, quiet=True)
