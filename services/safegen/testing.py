"""Test support: run real safegen servers (the production factory) in a background event loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Iterator

from safegen.core.server import create_server


@contextlib.contextmanager
def serve(*servicers, address: str = "127.0.0.1:0") -> Iterator[int]:
    """Starts a server hosting `servicers` on a free port; yields the port; stops the server on exit.

    Sync tests then use plain `grpc.insecure_channel(f"127.0.0.1:{port}")` stubs.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="safegen-test-server", daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    async def start():
        server, port = await create_server(list(servicers), address)
        await server.start()
        return server, port

    server, port = run(start())
    try:
        yield port
    finally:
        run(server.stop(None))
        for s in servicers:
            close = getattr(s, "aclose", None)
            if close is not None:
                run(close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
