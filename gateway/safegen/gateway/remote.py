"""The data plane's methods over a gRPC channel to a gateway elsewhere: for an HTTP front run apart from its gateway.

Same shape as safegen.gateway.plane.DataPlane (one method per RPC, messages in and out), so the HTTP
front does not care which it has; gRPC errors reach the front as grpc.aio.AioRpcError, which it maps.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from safegen.core.server import MAX_MESSAGE_BYTES
from safegen.v1 import guardrail_pb2, guardrail_pb2_grpc, safe_generation_pb2 as pb, safe_generation_pb2_grpc


def _rid(request_id: str) -> tuple[tuple[str, str], ...]:
    return (("x-request-id", request_id),) if request_id else ()


class RemotePlane:
    """Calls the gateway at `target` ("host:port")."""

    def __init__(self, target: str):
        self.target = target
        from safegen.gateway.http.auth import forwarding_interceptors

        self.channel = grpc.aio.insecure_channel(
            target,
            options=[
                # Accept responses as large as the gateway may send (20 images of 4 MB).
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
            interceptors=forwarding_interceptors(),
        )  # the internal token and the HTTP caller's key id
        self._generation = safe_generation_pb2_grpc.SafeGenerationServiceStub(self.channel)
        self._guardrails = guardrail_pb2_grpc.GuardrailServiceStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    async def generate(
        self, request: pb.GenerateRequest, *, timeout: float | None = None, request_id: str = ""
    ) -> pb.GenerateResponse:
        resp: pb.GenerateResponse = await self._generation.Generate(request, timeout=timeout, metadata=_rid(request_id))
        return resp

    async def stream_generate(
        self, request: pb.StreamGenerateRequest, *, timeout: float | None = None, request_id: str = ""
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        call = self._generation.StreamGenerate(request, timeout=timeout, metadata=_rid(request_id))
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                yield message
        finally:
            call.cancel()  # closing the iterator early cancels the call

    async def apply_guardrail(
        self, request: guardrail_pb2.ApplyGuardrailRequest, *, timeout: float | None = None, request_id: str = ""
    ) -> guardrail_pb2.ApplyGuardrailResponse:
        resp: guardrail_pb2.ApplyGuardrailResponse = await self._guardrails.ApplyGuardrail(
            request, timeout=timeout, metadata=_rid(request_id)
        )
        return resp

    async def list_guardrails(
        self, request: guardrail_pb2.ListGuardrailsRequest | None = None
    ) -> guardrail_pb2.ListGuardrailsResponse:
        resp: guardrail_pb2.ListGuardrailsResponse = await self._guardrails.ListGuardrails(
            request or guardrail_pb2.ListGuardrailsRequest(), timeout=10
        )
        return resp

    async def health(self) -> str:
        try:
            resp = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return "UNREACHABLE"
            name: str = exc.code().name
            return name
        status: str = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        return status

    async def aclose(self) -> None:
        await self.channel.close()
