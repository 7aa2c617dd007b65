"""Servers for the serving tests: `s2s serve` in a real subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from s2s.checkpoint import export_checkpoint
from s2s.model.info import CheckpointInfo
from s2s.model.seq2seq import Seq2Seq
from tests.conftest import tiny_config
from tests.reliability.helpers import cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    url: str,
    body: bytes | dict | None = None,
    headers: dict | None = None,
    method: str | None = None,
    timeout: float = 120,
) -> tuple[int, dict, dict | str]:
    """``(status, headers, JSON or text)`` of one HTTP request; 4xx/5xx are returned, not raised."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(
        url, data=data, headers={"content-type": "application/json", **(headers or {})}, method=method
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, head, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, head, raw = error.code, dict(error.headers), error.read()
    head = {key.lower(): value for key, value in head.items()}
    try:
        return status, head, json.loads(raw)
    except ValueError:
        return status, head, raw.decode("utf-8", "replace")


class Server:
    """``s2s serve CKPT ARGS`` on 127.0.0.1; ``stop()`` sends SIGTERM and returns the exit status."""

    def __init__(self, checkpoint: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "s2s.cli.main", "serve", str(checkpoint), "--port", str(self.port), *args],
            env=cli_env(),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"s2s serve exited with {self.process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if request(self.url + "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.kill()
        raise AssertionError(f"s2s serve did not become healthy:\n{log.read_text()[-3000:]}")

    def post(self, path: str, body, **kwargs):
        return request(self.url + path, body, **kwargs)

    def stop(self, timeout: float = 90) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the server and the workers it started (its own process group), leaving no orphan."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@pytest.fixture(scope="session")
def text_checkpoint(tmp_path_factory, tokenizer) -> Path:
    """An untrained tiny En->De model: its outputs are arbitrary but fixed, enough to compare answers."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("serve") / "text.pt"
    export_checkpoint(
        Seq2Seq(tiny_config(tokenizer.vocab_size)).eval(),
        tokenizer,
        CheckpointInfo(task="translation", tgt_langs=("de",)),
        path,
    )
    return path


@pytest.fixture(scope="session")
def speech_checkpoint(tmp_path_factory, tokenizer) -> Path:
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, encoder="audio", conv_channels=8, ctc=True, max_positions=512))
    path = tmp_path_factory.mktemp("serve") / "speech.pt"
    export_checkpoint(model, tokenizer, CheckpointInfo(task="asr", task_tag="transcribe", tgt_langs=("en",)), path)
    return path


@pytest.fixture(scope="session")
def text_server(text_checkpoint, tmp_path_factory):
    """One server for the API and hostile-request tests; batches wait 50 ms so concurrent requests meet."""
    log = tmp_path_factory.mktemp("serve-log") / "text.log"
    server = Server(
        text_checkpoint,
        log,
        "--max-batch-size",
        "16",
        "--batch-timeout",
        "0.05",
        "--max-sentences",
        "64",
        "--max-body-bytes",
        "1000000",
    )
    yield server
    server.stop()
