"""gRPC adapters of the `Backends` port (split mode): round_robin over DNS, retries, fast reconnects, error mapping.

Backends run as separate Deployments behind headless Services; `dns:///name:port` plus the round_robin
policy spreads the gateway's long-lived HTTP/2 connections over every pod instead of pinning one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Callable, Sequence

import grpc

from safegen import errors
from safegen.core.auth import process_guard
from safegen.core.clientauth import metadata_interceptors, static_metadata
from safegen.core.tls import backend_channel_options, client_credentials, process_tls
from safegen.core.types import Source
from safegen.gateway import convert
from safegen.gateway.ports import OnProgress
from safegen.gateway.twins import twin
from safegen.gateway.values import Pin
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.text.moderator import TextVerdict
from safegen.v1 import (
    common_pb2,
    image_generation_pb2,
    image_generation_pb2_grpc,
    image_moderation_pb2,
    image_moderation_pb2_grpc,
    text_moderation_pb2,
    text_moderation_pb2_grpc,
)

_MAX_MESSAGE = 96 * 1024 * 1024
#: Marks the gateway's moderation calls: the gateway writes their audit line, the backends do not.
_GATEWAY_CALL = (("x-safegen-caller", "gateway"),)
_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                # Moderation is idempotent: retry a pod that went away. Generation is not retried (costly).
                "name": [
                    {"service": "safegen.v1.TextModerationService"},
                    {"service": "safegen.v1.ImageModerationService"},
                ],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)
CHANNEL_OPTIONS = [
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.keepalive_time_ms", 30_000),
    # Recovery: gRPC's default backoff (1 s, x1.6, up to 120 s) kept the gateway answering UNAVAILABLE
    # for 10-25 s after a backend came back. Capped at 1 s, a restarted backend is reached within
    # ~1.2 s (20% jitter) of listening again.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 1_000),  # also the connect deadline: a hung (SIGSTOPped) pod fails in 1 s
    ("grpc.max_reconnect_backoff_ms", 1_000),
    # A restarted pod has a new IP: re-resolve the headless Service within a second, not the default 30 s.
    ("grpc.dns_min_time_between_resolutions_ms", 1_000),
]
_SOURCE = {Source.INPUT: common_pb2.SOURCE_INPUT, Source.OUTPUT: common_pb2.SOURCE_OUTPUT}
#: How long the readiness check before a generation waits for a connecting channel to become ready.
READY_WAIT_S = 2.0

_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.CANCELLED: errors.Cancelled,
}


def backend_error(exc: grpc.aio.AioRpcError, what: str) -> errors.SafegenError:
    """A backend's status becomes the gateway's: the caller's mistake stays INVALID_ARGUMENT, a dead
    backend becomes UNAVAILABLE naming which one."""
    kind = _BY_CODE.get(exc.code(), errors.Unavailable)
    return kind(f"{what}: {exc.details() or exc.code().name}")


def _target(addr: str) -> str:
    # Bare host:port gets the dns resolver so round_robin sees every A record of a headless Service.
    if "://" in addr or addr.startswith(("unix:", "dns:", "ipv4:", "ipv6:")):
        return addr
    host = addr.rsplit(":", 1)[0]
    if host in ("localhost", "127.0.0.1", "[::1]") or host.replace(".", "").isdigit():
        return addr
    return f"dns:///{addr}"


class GrpcBackends:
    """The port over channels to the three backend services, opened lazily inside the running event loop."""

    def __init__(
        self,
        text_addr: str,
        image_addr: str,
        generation_addr: str,
        moderation_timeout_s: float = 30.0,
        generation_timeout_s: float = 600.0,
    ):
        self.addrs = {"text": text_addr, "image": image_addr, "generation": generation_addr}
        self.moderation_timeout_s = moderation_timeout_s
        self.generation_timeout_s = generation_timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, Any] = {}

    def _channel(self, kind: str) -> grpc.aio.Channel:
        addr = self.addrs[kind]
        if not addr:
            raise errors.FailedPrecondition(f"no address configured for the {kind} backend")
        channel = self._channels.get(addr)
        if channel is None:
            # SAFEGEN_BACKEND_API_KEY, if set: the key the backends in other processes accept from the gateway.
            interceptors = metadata_interceptors(static_metadata(process_guard().backend_authorization))
            tls = process_tls()[0]
            creds = client_credentials(tls)  # SAFEGEN_BACKEND_TLS_*: None means plaintext
            if creds is None:
                channel = grpc.aio.insecure_channel(_target(addr), options=CHANNEL_OPTIONS, interceptors=interceptors)
            else:
                channel = grpc.aio.secure_channel(
                    _target(addr),
                    creds,
                    options=CHANNEL_OPTIONS + backend_channel_options(tls),
                    interceptors=interceptors,
                )
            self._channels[addr] = channel
        return channel

    def _stub(self, kind: str, factory: Callable[[grpc.aio.Channel], Any]) -> Any:
        """The generated stub for `kind` (generated stubs are untyped: their calls are Any, typed at each use)."""
        stub = self._stubs.get(kind)
        if stub is None:
            stub = self._stubs[kind] = factory(self._channel(kind))
        return stub

    async def moderate_text(self, text: str, source: Source, pin: Pin) -> TextVerdict:
        stub = self._stub("text", text_moderation_pb2_grpc.TextModerationServiceStub)
        try:
            resp = await stub.ModerateText(
                text_moderation_pb2.ModerateTextRequest(
                    text=text,
                    source=_SOURCE[source],
                    guardrail_id=pin.guardrail.id,
                    guardrail_version=pin.version,
                    tighten_filters=convert.tightening_pb(pin.tighten),
                ),
                timeout=self.moderation_timeout_s,
                metadata=_GATEWAY_CALL,
            )
        except grpc.aio.AioRpcError as e:
            raise backend_error(e, "text moderation") from None
        return convert.text_verdict(resp, pin.guardrail.shadow)

    async def moderate_images(self, images: Sequence[bytes], source: Source, pin: Pin) -> list[ImageVerdict]:
        stub = self._stub("image", image_moderation_pb2_grpc.ImageModerationServiceStub)
        try:
            resp = await stub.ModerateImages(
                image_moderation_pb2.ModerateImagesRequest(
                    images=images,
                    source=_SOURCE[source],
                    guardrail_id=pin.guardrail.id,
                    guardrail_version=pin.version,
                    tighten_filters=convert.tightening_pb(pin.tighten),
                ),
                timeout=self.moderation_timeout_s,
                metadata=_GATEWAY_CALL,
            )
        except grpc.aio.AioRpcError as e:
            raise backend_error(e, "image moderation") from None
        return convert.image_verdicts(resp)

    def generation_place(self) -> contextlib.AbstractAsyncContextManager[None]:
        # The queue is in the generation service's process: it answers RESOURCE_EXHAUSTED itself, after the
        # prompt was moderated here (checking first would cost a round trip per request).
        return contextlib.nullcontext()

    async def generate(
        self, request: GenerationRequest, pin: Pin, on_progress: OnProgress | None = None
    ) -> GenerationResult:
        stub = self._stub("generation", image_generation_pb2_grpc.ImageGenerationServiceStub)
        # The generation service resolves the same pinned version and adds its safety negative prompts.
        message = convert.generation_request_pb(request, pin.guardrail.id, pin.version)
        try:
            if on_progress is None:
                return convert.generation_result(await stub.GenerateImages(message, timeout=self.generation_timeout_s))
            stream_req = twin(message, image_generation_pb2.StreamGenerateImagesRequest)
            result = None
            async for event in stub.StreamGenerateImages(stream_req, timeout=self.generation_timeout_s):
                if event.HasField("progress"):
                    await on_progress(event.progress.step, event.progress.total_steps)
                elif event.HasField("result"):
                    result = event.result
            if result is None:
                raise errors.Unavailable("image generation: the stream ended without a result")
            return convert.generation_result(result)
        except grpc.aio.AioRpcError as e:
            raise backend_error(e, "image generation") from None

    async def image_moderation_ready(self) -> None:
        """Fails fast (UNAVAILABLE naming the backend) when the image moderation channel cannot carry a
        call now, so no generation is spent on images that could not be judged. Costs no RPC: it reads
        the channel's connectivity state, waiting up to READY_WAIT_S only while it is connecting."""
        channel = self._channel("image")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_WAIT_S
        while True:
            state = channel.get_state(try_to_connect=True)
            if state == grpc.ChannelConnectivity.READY:
                return
            remaining = deadline - loop.time()
            if (
                state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN)
                or remaining <= 0
            ):
                raise errors.Unavailable(
                    f"image moderation at {self.addrs['image']} is unreachable ({state.name}); no image was "
                    "generated because it could not be moderated. Retry shortly: the gateway reconnects "
                    "within about a second of the backend coming back"
                )
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        self._stubs.clear()
        for ch in channels:
            await ch.close()
