"""s2s serve's options, its bounded queue (503 + Retry-After) and SIGTERM draining in-flight requests."""

from __future__ import annotations

import threading
import time

import pytest

from s2s.cli.main import main
from tests.reliability.helpers import error_lines, run_cli
from tests.serving.conftest import Server

LONG = "A man in a blue shirt is riding a bicycle down a busy street past a market."


@pytest.mark.parametrize(
    "args, words",
    [
        (["--port", "80"], "--port 80: give a port from 1024 to 65535"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-queue", "0"], "--max-queue must be at least 1"),
        (["--batch-timeout", "5", "--timeout", "2"], "--batch-timeout (5.0) must be >= 0 and below --timeout"),
        (["--host", "example.com"], "invalid choice"),
    ],
)
def test_serve_options_are_checked_in_one_line(text_checkpoint, args, words, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["serve", str(text_checkpoint), *args])
    assert stop.value.code == 2 and words in capsys.readouterr().err


def test_a_bad_checkpoint_fails_before_any_worker_starts(tmp_path):
    result = run_cli("serve", str(tmp_path / "missing.pt"), timeout=120)  # a real process: no traceback
    assert result.returncode == 2 and error_lines(result) == [
        f"s2s: error: checkpoint not found: {tmp_path / 'missing.pt'}"
    ]


def test_full_queue_gets_503_with_retry_after_then_sigterm_drains_and_exits_0(text_checkpoint, tmp_path):
    server = Server(text_checkpoint, tmp_path / "serve.log", "--max-queue", "2", "--max-batch-size", "1")
    try:
        slow = {"text": [LONG] * 32, "beam": 5, "max_len_a": 3.0}  # seconds of decoding for the tiny model
        answers: list = []

        def client(body):
            answers.append(server.post("/translate", body))

        busy = [threading.Thread(target=client, args=(slow,)) for _ in range(2)]
        for t in busy:
            t.start()
        time.sleep(0.5)
        status, headers, body = server.post("/translate", {"text": ["A dog."]})
        assert status == 503 and headers["retry-after"] == "1" and "--max-queue" in body["detail"]
        code = server.stop()  # SIGTERM while both slow requests are in flight
        for t in busy:
            t.join()
        assert code == 0, (tmp_path / "serve.log").read_text()[-2000:]
        assert [a[0] for a in answers] == [200, 200]
        assert all(len(a[2]["translations"]) == 32 for a in answers)
    finally:
        if server.process.poll() is None:
            server.kill()
