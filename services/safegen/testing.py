"""Test support: run real safegen servers (the production factory) in a background event loop thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Awaitable, Callable, Iterator

from safegen.core.server import create_server

#: Started after the gRPC server with its port, in the server's loop; must return an object with
#: `async stop()` (e.g. the gateway's HTTP front, which has to share the loop as in `safegen serve`).
StartExtra = Callable[[int], Awaitable[Any]]


@contextlib.contextmanager
def running_server(*servicers, address: str = "127.0.0.1:0",
                   start_extra: StartExtra | None = None) -> Iterator[tuple[int, Any]]:
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
