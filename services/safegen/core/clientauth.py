"""Client side of API keys: a grpc.aio channel interceptor that sends this process's identity on every call.

The HTTP front forwards its callers over gRPC, and the all-in-one gateway calls its sibling services
through its own port: both send `authorization` (the process's internal token, or a configured key in
split mode) so the server interceptor admits them without charging callers twice.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping, Sequence

import grpc
from google.protobuf.message import Message

Pairs = Callable[[], Sequence[tuple[str, str]]]
#: What grpc passes an interceptor to send the call on (its results are grpc's untyped call objects).
AioContinuation = Callable[[grpc.aio.ClientCallDetails, Message], Awaitable[Any]]
SyncContinuation = Callable[[grpc.ClientCallDetails, Message], Any]


class _AddMetadata:
    def __init__(self, pairs: Pairs):
        self._pairs = pairs

    def _details(self, d: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        extra = tuple(self._pairs())
        if not extra:
            return d
        names = {k for k, _ in extra}
        metadata = tuple((k, v) for k, v in (d.metadata or ()) if k not in names) + extra
        return grpc.aio.ClientCallDetails(d.method, d.timeout, metadata, d.credentials, d.wait_for_ready)


class _UnaryUnary(_AddMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: AioContinuation, client_call_details: grpc.aio.ClientCallDetails, request: Message
    ) -> grpc.aio.UnaryUnaryCall:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_AddMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: AioContinuation, client_call_details: grpc.aio.ClientCallDetails, request: Message
    ) -> grpc.aio.UnaryStreamCall:
        return await continuation(self._details(client_call_details), request)


def metadata_interceptors(pairs: Pairs) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for grpc.aio channels adding `pairs()` (evaluated per call, in the caller's context)."""
    return [_UnaryUnary(pairs), _UnaryStream(pairs)]


def for_caller(authorization: str) -> Pairs:
    """`authorization` plus the key of the caller being served (read per call from the calling task), so a
    backend in this process counts the call in that key's fair share."""
    from safegen.core.auth import current_principal
    from safegen.core.interceptor import FOR_KEY_METADATA

    def pairs() -> tuple[tuple[str, str], ...]:
        share = current_principal.get().share_id
        return (
            (("authorization", authorization), (FOR_KEY_METADATA, share))
            if share
            else (("authorization", authorization),)
        )

    return pairs


def static_metadata(authorization: str) -> Pairs:
    """`authorization` on every call (empty: nothing added)."""
    pairs = (("authorization", authorization),) if authorization else ()
    return lambda: pairs


class _SyncDetails(grpc.ClientCallDetails):
    def __init__(self, d: grpc.ClientCallDetails, metadata: tuple[tuple[str, str], ...]):
        self.method, self.timeout, self.credentials = d.method, d.timeout, d.credentials
        self.wait_for_ready, self.compression, self.metadata = (
            getattr(d, "wait_for_ready", None),
            getattr(d, "compression", None),
            metadata,
        )


class _SyncAddMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self._pairs = tuple(pairs)

    def _details(self, d: grpc.ClientCallDetails) -> _SyncDetails:
        return _SyncDetails(d, tuple(d.metadata or ()) + self._pairs)

    def intercept_unary_unary(
        self, continuation: SyncContinuation, client_call_details: grpc.ClientCallDetails, request: Message
    ) -> grpc.Call:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: SyncContinuation, client_call_details: grpc.ClientCallDetails, request: Message
    ) -> grpc.Call:
        return continuation(self._details(client_call_details), request)


def client_channel(
    target: str, options: Sequence[tuple[str, object]] = (), env: Mapping[str, str] | None = None
) -> grpc.Channel:
    """A blocking channel for the `safegen` client commands, from the caller's environment:
    SAFEGEN_API_KEY (sent as `authorization: Bearer ...`), SAFEGEN_TARGET_CA_FILE (TLS, verifying the
    server against this CA), SAFEGEN_TARGET_CERT_FILE / SAFEGEN_TARGET_KEY_FILE (a client certificate
    for mTLS) and SAFEGEN_TARGET_SERVER_NAME (the name to verify, when it differs from the target's host)."""
    import os
    from pathlib import Path

    env = os.environ if env is None else env
    options = list(options)
    ca = env.get("SAFEGEN_TARGET_CA_FILE", "").strip()
    if ca:
        cert, key = env.get("SAFEGEN_TARGET_CERT_FILE", "").strip(), env.get("SAFEGEN_TARGET_KEY_FILE", "").strip()
        creds = grpc.ssl_channel_credentials(
            root_certificates=Path(ca).read_bytes(),
            private_key=Path(key).read_bytes() if key else None,
            certificate_chain=Path(cert).read_bytes() if cert else None,
        )
        name = env.get("SAFEGEN_TARGET_SERVER_NAME", "").strip()
        if name:
            options.append(("grpc.ssl_target_name_override", name))
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    api_key = env.get("SAFEGEN_API_KEY", "").strip()
    if api_key:
        channel = grpc.intercept_channel(channel, _SyncAddMetadata([("authorization", f"Bearer {api_key}")]))
    return channel
