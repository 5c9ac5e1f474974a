"""The server factory every safegen process uses: grpc.aio, the interceptor, health, reflection, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from safegen.core.auth import Guard
from safegen.core.interceptor import StatusInterceptor
from safegen.core.tls import process_tls
from safegen.v1 import (
    guardrail_pb2,
    guardrail_pb2_grpc,
    image_generation_pb2,
    image_generation_pb2_grpc,
    image_moderation_pb2,
    image_moderation_pb2_grpc,
    safe_generation_pb2,
    safe_generation_pb2_grpc,
    text_moderation_pb2,
    text_moderation_pb2_grpc,
)

log = logging.getLogger("safegen.server")

#: 20 images x 4 MB plus framing: the largest legitimate request or response.
MAX_MESSAGE_BYTES = 96 * 1024 * 1024

# Generated servicer base class -> (add function, full service name). A servicer is registered by
# the base it subclasses, so main and tests hand the factory servicer objects and nothing else.
#: (generated servicer base, its add_..._to_server, the full service name); servicers are untyped (Any).
_SERVICES: list[tuple[type, Callable[[Any, grpc.aio.Server], None], str]] = [
    (
        text_moderation_pb2_grpc.TextModerationServiceServicer,
        text_moderation_pb2_grpc.add_TextModerationServiceServicer_to_server,
        text_moderation_pb2.DESCRIPTOR.services_by_name["TextModerationService"].full_name,
    ),
    (
        image_moderation_pb2_grpc.ImageModerationServiceServicer,
        image_moderation_pb2_grpc.add_ImageModerationServiceServicer_to_server,
        image_moderation_pb2.DESCRIPTOR.services_by_name["ImageModerationService"].full_name,
    ),
    (
        image_generation_pb2_grpc.ImageGenerationServiceServicer,
        image_generation_pb2_grpc.add_ImageGenerationServiceServicer_to_server,
        image_generation_pb2.DESCRIPTOR.services_by_name["ImageGenerationService"].full_name,
    ),
    (
        safe_generation_pb2_grpc.SafeGenerationServiceServicer,
        safe_generation_pb2_grpc.add_SafeGenerationServiceServicer_to_server,
        safe_generation_pb2.DESCRIPTOR.services_by_name["SafeGenerationService"].full_name,
    ),
    (
        guardrail_pb2_grpc.GuardrailServiceServicer,
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server,
        guardrail_pb2.DESCRIPTOR.services_by_name["GuardrailService"].full_name,
    ),
]


def server_options(max_message_bytes: int = MAX_MESSAGE_BYTES) -> list[tuple[str, int]]:
    return [
        ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not steal connections
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.bdp_probe", 0),  # removed intermittent slow receives of large messages (PERF.md)
    ]


def service_names(servicers: Sequence[object]) -> list[str]:
    names = []
    for s in servicers:
        for base, _, name in _SERVICES:
            if isinstance(s, base):
                names.append(name)
    return names


async def create_server(
    servicers: Sequence[object],
    address: str = "127.0.0.1:0",
    *,
    health_servicer: health.aio.HealthServicer | None = None,
    max_message_bytes: int = MAX_MESSAGE_BYTES,
    guard: Guard | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Builds (not starts) a server hosting `servicers`, with health and reflection, bound to `address`.

    Returns (server, port); port is the bound port, so "host:0" picks a free one. Servicers that define
    `on_server_port(port)` are told the port (the all-in-one gateway calls its siblings through it).
    """
    server = grpc.aio.server(interceptors=[StatusInterceptor(guard)], options=server_options(max_message_bytes))
    names = []
    for s in servicers:
        matched = False
        for base, add, name in _SERVICES:
            if isinstance(s, base):
                add(s, server)
                names.append(name)
                matched = True
        if not matched:
            raise TypeError(f"{type(s).__name__} does not subclass a generated safegen.v1 servicer base")
    hs = health_servicer or health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(hs, server)
    for name in names + [""]:
        await hs.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(names + [health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    tls_settings, server_tls = process_tls()
    if server_tls is None:
        port = own_port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, server_tls.grpc_credentials())
        # This process's own calls (the HTTP front, the all-in-one gateway) and exec probes use a plaintext
        # port on loopback: API keys still apply there, and nothing outside the pod can reach it.
        own_port = server.add_insecure_port(f"127.0.0.1:{tls_settings.loopback_port}") if port else 0
        if port and not own_port:
            raise OSError(
                f"cannot bind the loopback port 127.0.0.1:{tls_settings.loopback_port} "
                f"(SAFEGEN_LOOPBACK_PORT): it is in use"
            )
        _LOOPBACK[port] = own_port
    if port == 0:
        raise OSError(f"cannot bind {address}: the port is in use or the address is invalid")
    if server_tls is not None:
        mtls = ", client certificates required" if tls_settings.client_ca_file else ""
        log.info("gRPC on %s with TLS%s; loopback plaintext port %d for this process", address, mtls, own_port)
    for s in servicers:
        hook = getattr(s, "on_server_port", None)
        if hook is not None:
            hook(own_port)
    return server, port


#: TLS public port -> this process's plaintext loopback port.
_LOOPBACK: dict[int, int] = {}


def in_process_target(target: str) -> str:
    """The address this process should use to call itself at `target` ("127.0.0.1:PORT"): the plaintext
    loopback port when PORT is a TLS port of this process, else `target` unchanged."""
    host, _, port = target.rpartition(":")
    if host in ("127.0.0.1", "localhost", "[::1]") and port.isdigit() and int(port) in _LOOPBACK:
        return f"127.0.0.1:{_LOOPBACK[int(port)]}"
    return target


async def drain(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    grace_seconds: float,
    delay_seconds: float = 0.0,
    servicers: Sequence[object] = (),
) -> None:
    """Graceful stop: every health status NOT_SERVING (load balancers stop sending), an optional delay
    so endpoint removal propagates, then in-flight RPCs get `grace_seconds` to finish.

    Servicers with `begin_drain()`/`wait_idle()` (the gateway) refuse new calls and are waited for
    BEFORE the server stops: in the all-in-one process their in-flight requests still call the
    sibling services through this server, which stop() would refuse.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay_seconds + grace_seconds
    await health_servicer.enter_graceful_shutdown()
    if delay_seconds > 0:
        await asyncio.sleep(delay_seconds)
    waiters = []
    for s in servicers:
        if isinstance(s, Drainable):
            s.begin_drain()
            waiters.append(s.wait_idle())
    if waiters:
        try:
            await asyncio.wait_for(asyncio.gather(*waiters), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            log.warning("grace period over with gateway requests still running; stopping anyway")
    await server.stop(max(0.0, deadline - loop.time()))


@runtime_checkable
class Drainable(Protocol):
    """A servicer with calls of its own to drain (the gateway's: gRPC and HTTP callers of its data plane)."""

    def begin_drain(self) -> None: ...

    async def wait_idle(self) -> None: ...


async def wait_for_signal(signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> int:
    """Returns the first of `signals` received."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[int] = loop.create_future()

    def received(sig: signal.Signals) -> None:
        if not got.done():
            got.set_result(int(sig))

    for sig in signals:
        loop.add_signal_handler(sig, received, sig)
    try:
        return await got
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
