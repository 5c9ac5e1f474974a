"""Test support: run real safegen servers (the production factory) in a background event loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator

from safegen.core.server import create_server
from safegen.core.types import BoundingBox, Category, CategoryScore, ImageAssessment, Label, Level

#: Started after the gRPC server with its port, in the server's loop; must return an object with
#: `async stop()` (e.g. the gateway's HTTP front, which has to share the loop as in `safegen serve`).
StartExtra = Callable[[int], Awaitable[Any]]


@contextlib.contextmanager
def running_server(
    *servicers, address: str = "127.0.0.1:0", start_extra: StartExtra | None = None
) -> Iterator[tuple[int, Any]]:
    """Starts a server hosting `servicers` (and `start_extra(port)` beside it) in a background loop;
    yields (port, extra); stops both and closes the servicers on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="safegen-test-server", daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    async def start():
        server, port = await create_server(list(servicers), address)
        await server.start()
        try:
            extra = await start_extra(port) if start_extra else None
        except BaseException:
            await server.stop(None)
            raise
        return server, port, extra

    try:
        server, port, extra = run(start())
        try:
            yield port, extra
        finally:
            if extra is not None:
                run(extra.stop())
            run(server.stop(None))
            for s in servicers:
                close = getattr(s, "aclose", None)
                if close is not None:
                    run(close())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@contextlib.contextmanager
def serve(*servicers, address: str = "127.0.0.1:0") -> Iterator[int]:
    """Starts a server hosting `servicers` on a free port; yields the port; stops the server on exit.

    Sync tests then use plain `grpc.insecure_channel(f"127.0.0.1:{port}")` stubs.
    """
    with running_server(*servicers, address=address) as (port, _):
        yield port


class RedIsUnsafe:
    """Image detector double: an image whose pixels are more than 5% strong red is SEXUAL at HIGH
    confidence, boxed on the red area. No real unsafe imagery can ship in a test, and the bundled model
    draws red shapes on request, so this makes "the moderation marks this generated image unsafe"
    reproducible. The real detectors are tested in tests/image."""

    name = "red-double"
    needs_decoded = True

    def assess(self, images, source=None):
        import numpy as np

        out = []
        for img in images:
            a = np.asarray(img.working.convert("RGB")).astype(int)
            red = (a[..., 0] > 150) & (a[..., 1] < 110) & (a[..., 2] < 110)
            scores, labels = {}, []
            if red.mean() > 0.05:
                ys, xs = np.nonzero(red)
                h, w = red.shape
                box = BoundingBox(
                    xs.min() / w, ys.min() / h, (xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h
                )
                scores[Category.SEXUAL] = CategoryScore(Category.SEXUAL, 0.97, Level.HIGH)
                labels.append(Label("Explicit", "", 97.0, 1, Category.SEXUAL, box))
            out.append(
                ImageAssessment(
                    scores=scores,
                    labels=labels,
                    format=img.format,
                    width=img.width,
                    height=img.height,
                    backend=self.name,
                )
            )
        return out


class ServeProcess:
    """`safegen serve ARGS` as a subprocess on free ports; the ports come back through --ready-file."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None, name: str = "serve"):
        self.name = name
        self.ready_file = Path(workdir) / f"{name}.ready.json"
        self.log_file = Path(workdir) / f"{name}.log"
        with open(self.log_file, "w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "safegen.cli",
                    "serve",
                    *args,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--metrics-port",
                    "0",
                    "--ready-file",
                    str(self.ready_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )

    def wait_ready(self, timeout: float = 240) -> dict:
        """The ready file's content once serving; RuntimeError with the log's tail if it exits or times out."""
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{self.name} did not start:\n{self.log_file.read_text()[-3000:]}")
            time.sleep(0.2)
        return json.loads(self.ready_file.read_text())


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM to every process first (they drain in parallel), then wait; kill what outlives `timeout`."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
