"""``s2s serve CKPT``: an HTTP API for a checkpoint (LitServe), with requests from many clients batched.

A text model answers ``POST /translate`` (``{"text": [...], "beam": 5, "tgt_lang": ...}``), a speech
model ``POST /transcribe`` (JSON with the file in base64, or a multipart upload in field ``file``);
``GET /health``, ``GET /info`` and the OpenAPI page ``/docs`` come with both. See docs/serving.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from s2s.checkpoint import load_checkpoint
from s2s.cli.common import check_device

HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds


def parser() -> argparse.ArgumentParser:
    from s2s.serving.server import ServeSettings

    d = ServeSettings()
    p = argparse.ArgumentParser(
        prog="s2s serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint", type=Path, help="model.pt or a training .ckpt")
    p.add_argument(
        "--host", default=d.host, choices=HOSTS, help=f"address to listen on (default {d.host}: this machine only)"
    )
    p.add_argument("--port", type=int, default=d.port, help=f"port, 1024-65535 (default {d.port})")
    p.add_argument(
        "--workers",
        type=int,
        default=d.workers,
        help="inference processes, each with its own copy of the model (default 1)",
    )
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=d.max_batch_size,
        help=f"requests decoded together (default {d.max_batch_size})",
    )
    p.add_argument(
        "--batch-timeout",
        type=float,
        default=d.batch_timeout,
        help=f"seconds a batch waits for more requests (default {d.batch_timeout})",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=d.max_queue,
        help=f"requests waiting or decoding at once; past it, 503 with Retry-After (default {d.max_queue})",
    )
    p.add_argument(
        "--max-sentences",
        type=int,
        default=d.max_sentences,
        help=f"sentences in one /translate request (default {d.max_sentences})",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=d.max_body_bytes,
        help=f"largest request body (default {d.max_body_bytes})",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=d.max_tokens,
        help=f"padded source tokens per decoded batch, as s2s translate's (default {d.max_tokens})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=d.timeout,
        help=f"seconds a request may wait in the queue before a 504 (default {d.timeout})",
    )
    p.add_argument("--device", default=d.device, help="cpu, cuda (default cpu)")
    return p


def check(options: argparse.Namespace) -> None:
    if not 1024 <= options.port <= 65535:
        raise ValueError(f"--port {options.port}: give a port from 1024 to 65535")
    for name in ("workers", "max_batch_size", "max_queue", "max_sentences", "max_body_bytes", "max_tokens"):
        if getattr(options, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(options, name)}")
    if options.batch_timeout < 0 or options.timeout <= options.batch_timeout:
        raise ValueError(
            f"--batch-timeout ({options.batch_timeout}) must be >= 0 and below --timeout ({options.timeout})"
        )
    check_device(options.device)


def run(args: list[str]) -> None:
    options = parser().parse_args(args)
    check(options)
    # The HTTP processes fork from this one and run a few torch operations (reading uploads); an OpenMP
    # thread pool started here before the fork would deadlock them. The inference workers are spawned
    # afresh and choose their own thread count.
    torch.set_num_threads(1)
    loaded = load_checkpoint(options.checkpoint)  # a bad checkpoint fails here, in one line, before any worker starts

    from s2s.serving.server import ServeSettings, serve

    settings = ServeSettings(**{k: v for k, v in vars(options).items() if k != "checkpoint"})
    serve(str(options.checkpoint), loaded, settings)
