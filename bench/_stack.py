"""Starts a real `safegen serve` on loopback ports chosen by the OS for a bench, and waits for its ready file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def start_stack(
    work: Path,
    *,
    mode: str = "",
    http: bool = True,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
) -> tuple[subprocess.Popen, dict]:
    """The process and its ready-file contents (port, metrics_port, http_port).

    `mode` is a `safegen serve` mode ("" = all-in-one, "image-generation", ...); its log goes to
    work/serve.log (work/serve-MODE.log for a mode), so two stacks can share one folder. `env` is added to
    this process's environment.
    """
    name = f"serve-{mode}" if mode else "serve"
    ready, log_path = work / (f"{mode}-ready.json" if mode else "ready.json"), work / f"{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "safegen.cli",
            "serve",
            *([mode] if mode else []),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--http-port",
            "0" if http else "-1",
            "--ready-file",
            str(ready),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})},
    )
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"safegen serve {mode} did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, json.loads(ready.read_text())


def stop_stack(proc: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM (the server drains), then SIGKILL if it has not exited within `grace_s`."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
