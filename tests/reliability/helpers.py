"""Helpers for the reliability tests: run the CLI in a subprocess that imports this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout of s2s."""
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_cli(
    *args: str, stdin: bytes | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``s2s ARGS...`` in a fresh interpreter; stdout and stderr are bytes."""
    return subprocess.run(
        [sys.executable, "-m", "s2s.cli.main", *args],
        input=stdin,
        capture_output=True,
        env=cli_env(),
        timeout=timeout,
        cwd=cwd or ROOT,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
