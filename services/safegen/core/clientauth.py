"""Client side of API keys: a grpc.aio channel interceptor that sends this process's identity on every call.

The HTTP front forwards its callers over gRPC, and the all-in-one gateway calls its sibling services
through its own port: both send `authorization` (the process's internal token, or a configured key in
split mode) so the server interceptor admits them without charging callers twice.
"""

from __future__ import annotations

from typing import Callable, Sequence

import grpc

Pairs = Callable[[], Sequence[tuple[str, str]]]


class _AddMetadata:
    def __init__(self, pairs: Pairs):
        self._pairs = pairs

    def _details(self, d):
        extra = tuple(self._pairs())
        if not extra:
            return d
        names = {k for k, _ in extra}
        metadata = tuple((k, v) for k, v in (d.metadata or ()) if k not in names) + extra
        return grpc.aio.ClientCallDetails(d.method, d.timeout, metadata, d.credentials, d.wait_for_ready)


class _UnaryUnary(_AddMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_AddMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._details(client_call_details), request)


def metadata_interceptors(pairs: Pairs) -> list:
    """Interceptors for grpc.aio channels adding `pairs()` (evaluated per call, in the caller's context)."""
    return [_UnaryUnary(pairs), _UnaryStream(pairs)]


def static_metadata(authorization: str) -> Pairs:
    """`authorization` on every call (empty: nothing added)."""
    pairs = (("authorization", authorization),) if authorization else ()
    return lambda: pairs
