"""``s2s serve``: the LitServer for one checkpoint, its limits, /info, and a SIGTERM that drains.

LitServe runs the HTTP side (FastAPI under uvicorn, forked) and the inference workers (spawned,
``workers`` of them, each loading the checkpoint); requests reach a worker through a queue and
are batched there (``max_batch_size`` requests, waiting at most ``batch_timeout`` s for more).
On SIGTERM the server's shutdown event is set: uvicorn stops accepting connections, answers
every request already in (the workers stay up until then), and the process exits 0.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import asdict, dataclass
from typing import TypedDict

import litserve as ls

from s2s.checkpoint import LoadedModel
from s2s.serving.admission import Admission, shared_counter
from s2s.serving.gate import RequestGate
from s2s.serving.transcribe_api import TranscribeAPI
from s2s.serving.translate_api import TranslateAPI
from s2s.serving.validation import RequestChecker


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # inference processes, each with its own copy of the model
    max_batch_size: int = 16  # requests decoded together
    batch_timeout: float = 0.05  # seconds a batch waits to fill (bench/serve.py: 0.01 left batches half full)
    max_queue: int = 256  # requests waiting or decoding; past it, 503
    max_sentences: int = 256  # per /translate request
    max_body_bytes: int = 16 * 1024 * 1024
    max_tokens: int = 4096  # padded source tokens per decoded batch, as s2s translate --max-tokens
    timeout: float = 60.0  # seconds a request may wait in the queue before LitServe answers 504
    device: str = "cpu"


def model_info(checkpoint: str, loaded: LoadedModel, settings: ServeSettings) -> dict:
    """What GET /info tells about the model (LitServe adds the server's own settings)."""
    info = loaded.info
    speech = loaded.model.config.encoder == "audio"
    codes = getattr(loaded.tokenizer, "language_codes", None)
    return {
        "checkpoint": checkpoint,
        "kind": "speech" if speech else "text",
        "endpoint": "/transcribe" if speech else "/translate",
        "task": info.task,
        "task_tag": info.task_tag,
        "src_lang": info.src_lang,
        "tgt_langs": sorted(codes) if codes else list(info.tgt_langs),
        "whisper": info.whisper is not None,
        "step": info.step,
        "default_decoding": info.default_decoding,
        "config": loaded.model.config.to_dict(),
        "limits": {k: v for k, v in asdict(settings).items() if k not in ("host", "port", "device")},
    }


class Batching(TypedDict):
    """How a LitServe API batches requests (both APIs take these)."""

    threads: int
    max_batch_size: int
    batch_timeout: float


def build_server(checkpoint: str, loaded: LoadedModel, settings: ServeSettings) -> ls.LitServer:
    speech = loaded.model.config.encoder == "audio"
    threads = max(1, (os.cpu_count() or 1) // settings.workers)
    batching = Batching(threads=threads, max_batch_size=settings.max_batch_size, batch_timeout=settings.batch_timeout)
    api = (
        TranscribeAPI(checkpoint, **batching)
        if speech
        else TranslateAPI(checkpoint, max_tokens=settings.max_tokens, **batching)
    )
    checker = RequestChecker(loaded, max_sentences=settings.max_sentences, max_tokens=settings.max_tokens)
    middlewares = [  # the first listed runs innermost: the gate checks a request before it is counted
        (Admission, {"counter": shared_counter(), "max_queue": settings.max_queue}),
        (
            RequestGate,
            {"checker": checker, "kind": "speech" if speech else "text", "max_body_bytes": settings.max_body_bytes},
        ),
    ]
    accelerator = "cuda" if settings.device.startswith("cuda") else "cpu"
    return ls.LitServer(
        api,
        accelerator=accelerator,
        devices=1,
        workers_per_device=settings.workers,
        timeout=settings.timeout,
        model_metadata=model_info(checkpoint, loaded, settings),
        middlewares=middlewares,
    )


def drain_on_sigterm(server: ls.LitServer) -> None:
    """SIGTERM sets LitServe's shutdown event, from a thread: the main thread is inside the event's own
    wait, on the same manager connection, when the signal arrives."""

    def on_sigterm(signum, frame):
        event = server._shutdown_event
        if event is None:  # still starting: nothing is in flight
            raise SystemExit(0)
        threading.Thread(target=event.set, name="s2s-sigterm", daemon=True).start()

    signal.signal(signal.SIGTERM, on_sigterm)


def serve(checkpoint: str, loaded: LoadedModel, settings: ServeSettings) -> None:
    # Idle OpenMP threads of the spawned workers sleep instead of spinning: between batches a worker
    # waits on its queue, and spinning threads would take the cores from the HTTP side and other work.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    server = build_server(checkpoint, loaded, settings)
    drain_on_sigterm(server)
    print(
        f"s2s serve: http://{settings.host}:{settings.port} (POST {model_info(checkpoint, loaded, settings)['endpoint']},"
        f" GET /health, /info, /docs); SIGTERM drains and stops",
        flush=True,
    )
    server.run(
        host=settings.host, port=settings.port, num_api_servers=1, generate_client_file=False, log_level="warning"
    )
