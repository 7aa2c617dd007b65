"""s2s serve under load: N concurrent clients against the server, compared with `s2s translate`.

Starts `s2s serve CKPT` on 127.0.0.1, lets ``--clients`` threads send ``--requests`` POST
/translate requests (each ``--per-request`` real Multi30k sentences, in turn from ``--sentences``),
bounded in count and in time (``--deadline`` s), and reports throughput (sentences/s), latency
percentiles and errors. Then `s2s translate` translates the same sentences as one file; its
throughput counts its translating time only (its run on an empty input, the start-up, subtracted).
Every response is checked against the CLI's translation of the same sentence: a request that got
no answer is *lost*, an answer that differs from the CLI's is *mismatched*.

    python bench/serve.py runs/demo/model.pt          # README's table: 16 clients, 1,000 requests
    python bench/serve.py runs/demo/model.pt --requests 200 --clients 4    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from machine import describe  # bench/machine.py

ROOT = Path(__file__).resolve().parents[1]


def s2s(*args: str) -> list[str]:
    return [sys.executable, "-m", "s2s.cli.main", *args]


def env() -> dict:
    # both sides alike: idle OpenMP threads sleep (s2s serve sets this for its workers too)
    return dict(os.environ, PYTHONPATH=str(ROOT), WANDB_MODE="disabled", OMP_WAIT_POLICY="PASSIVE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_translate(checkpoint: str, lines: list[str], beam: int) -> tuple[list[str], float, float]:
    """``(translations, seconds translating, seconds starting)`` of `s2s translate` on ``lines``."""
    with tempfile.TemporaryDirectory() as tmp:
        source, empty, out = Path(tmp) / "in.txt", Path(tmp) / "empty.txt", Path(tmp) / "out.txt"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        empty.write_text("")
        times = []
        for path in (empty, source):
            start = time.perf_counter()
            subprocess.run(
                s2s("translate", checkpoint, "-i", str(path), "-o", str(out), "--beam", str(beam)),
                check=True,
                env=env(),
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
        return out.read_text(encoding="utf-8").splitlines(), times[1] - times[0], times[0]


def post(url: str, body: dict, timeout: float) -> tuple[int, dict | None]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return 0, None


def start_server(checkpoint: str, port: int, args: argparse.Namespace, log) -> subprocess.Popen:
    process = subprocess.Popen(
        s2s(
            "serve",
            checkpoint,
            "--port",
            str(port),
            "--max-batch-size",
            str(args.max_batch_size),
            "--batch-timeout",
            str(args.batch_timeout),
            "--max-queue",
            str(max(256, 2 * args.clients)),
        ),
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"s2s serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("s2s serve did not become healthy in 300 s")


def load(url: str, bodies: list[list[str]], args: argparse.Namespace) -> tuple[list, float]:
    """Send every body from ``args.clients`` threads; ``[(status, answer, seconds)]`` in body order."""
    results: list = [None] * len(bodies)
    next_index, lock = iter(range(len(bodies))), threading.Lock()
    stop_at = time.monotonic() + args.deadline

    def client() -> None:
        while time.monotonic() < stop_at:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            start = time.perf_counter()
            status, answer = post(url, {"text": bodies[i], "beam": args.beam}, timeout=args.deadline)
            results[i] = (status, answer, time.perf_counter() - start)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default="runs/demo/model.pt")
    p.add_argument("--sentences", default="data/multi30k/test.en", help="one sentence a line (default Multi30k test)")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--per-request", type=int, default=1, help="sentences in one request (default 1)")
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--max-batch-size", type=int, default=16, help="s2s serve --max-batch-size (default 16)")
    p.add_argument("--batch-timeout", type=float, default=0.05, help="s2s serve --batch-timeout (default 0.05)")
    p.add_argument("--deadline", type=float, default=1800, help="seconds the load may take at most (default 1800)")
    args = p.parse_args()

    pool = [line.strip() for line in Path(args.sentences).read_text(encoding="utf-8").splitlines() if line.strip()]
    bodies = [
        [pool[(i * args.per_request + j) % len(pool)] for j in range(args.per_request)] for i in range(args.requests)
    ]
    distinct = sorted({s for body in bodies for s in body})
    port = free_port()
    with tempfile.NamedTemporaryFile("w+b", suffix=".log") as log:
        server = start_server(args.checkpoint, port, args, log)
        try:
            load(f"http://127.0.0.1:{port}/translate", [[s] for s in pool[: args.clients]], args)  # warm-up
            results, seconds = load(f"http://127.0.0.1:{port}/translate", bodies, args)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=120)
    reference = dict(zip(distinct, cli_translate(args.checkpoint, distinct, args.beam)[0]))
    cli_lines = [s for body in bodies for s in body]
    _, cli_seconds, cli_start = cli_translate(args.checkpoint, cli_lines, args.beam)

    answered = [r for r in results if r is not None and r[0] == 200]
    lost = sum(1 for r in results if r is None or r[0] == 0)
    errors = sum(1 for r in results if r is not None and r[0] not in (0, 200))
    mismatched = sum(
        1
        for body, r in zip(bodies, results)
        if r is not None and r[0] == 200 and [t["text"] for t in r[1]["translations"]] != [reference[s] for s in body]
    )
    latencies = [r[2] * 1000 for r in answered]
    served = sum(len(body) for body, r in zip(bodies, results) if r is not None and r[0] == 200)
    server_rate, cli_rate = served / seconds, len(cli_lines) / cli_seconds
    print(f"machine: {describe()}")
    print(f"s2s serve exit status after SIGTERM: {code}; `s2s translate` start-up {cli_start:.1f} s (subtracted)")
    print(
        "| clients | requests | sentences/request | beam | server sent./s | `s2s translate` sent./s | ratio "
        "| p50 ms | p95 ms | p99 ms | errors | lost | mismatched |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.clients} | {len(bodies)} | {args.per_request} | {args.beam} | {server_rate:.1f} | {cli_rate:.1f} "
        f"| {server_rate / cli_rate:.2f} | {percentile(latencies, 50):.0f} | {percentile(latencies, 95):.0f} "
        f"| {percentile(latencies, 99):.0f} | {errors} | {lost} | {mismatched} |"
    )


if __name__ == "__main__":
    main()
