"""Thin gRPC servicers of the gateway: SafeGenerationService and GuardrailService, each a call into the data plane."""

from __future__ import annotations

import logging
from typing import AsyncIterator, Mapping

import grpc

from safegen.core import audit_pb
from safegen.core.settings import CoreSettings
from safegen.gateway.clients import GrpcBackends
from safegen.gateway.flow import Blur
from safegen.gateway.plane import DataPlane
from safegen.policy import GuardrailRegistry
from safegen.policy.audit import AuditLog, process_audit_log
from safegen.v1 import guardrail_pb2, guardrail_pb2_grpc, safe_generation_pb2 as pb, safe_generation_pb2_grpc


log = logging.getLogger("safegen.gateway")


class _GatewayPart:
    """What both gateway servicers share: the plane, and drain/close hooks the server factory calls."""

    def __init__(self, plane: DataPlane):
        self.plane = plane

    def begin_drain(self) -> None:
        self.plane.begin_drain()

    async def wait_idle(self) -> None:
        await self.plane.wait_idle()

    async def aclose(self) -> None:
        await self.plane.aclose()


class SafeGenerationServicer(_GatewayPart, safe_generation_pb2_grpc.SafeGenerationServiceServicer):
    async def Generate(
        self,
        request: pb.GenerateRequest,  # noqa: N802 - generated name
        context: grpc.aio.ServicerContext,
    ) -> pb.GenerateResponse:
        return await self.plane.generate(request, request_id=audit_pb.request_id_of(context))

    async def StreamGenerate(
        self,
        request: pb.StreamGenerateRequest,  # noqa: N802
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.StreamGenerateResponse]:
        events = self.plane.stream_generate(request, request_id=audit_pb.request_id_of(context))
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # the caller went away: the plane cancels the generation


class GuardrailServicer(_GatewayPart, guardrail_pb2_grpc.GuardrailServiceServicer):
    async def ListGuardrails(
        self,
        request: guardrail_pb2.ListGuardrailsRequest,  # noqa: N802
        context: grpc.aio.ServicerContext,
    ) -> guardrail_pb2.ListGuardrailsResponse:
        return await self.plane.list_guardrails(request)

    async def ApplyGuardrail(
        self,
        request: guardrail_pb2.ApplyGuardrailRequest,  # noqa: N802
        context: grpc.aio.ServicerContext,
    ) -> guardrail_pb2.ApplyGuardrailResponse:
        return await self.plane.apply_guardrail(request, request_id=audit_pb.request_id_of(context))


def servicers_for(plane: DataPlane) -> list[_GatewayPart]:
    """The gateway's two servicers over one plane."""
    return [SafeGenerationServicer(plane), GuardrailServicer(plane)]


def create_servicers(
    registry: GuardrailRegistry,
    env: Mapping[str, str] | None = None,
    *,
    blur: Blur | None = None,
    core: CoreSettings | None = None,
    audit: AuditLog | None = None,
) -> list[_GatewayPart]:
    """The split-mode gateway (`safegen serve gateway`): the plane over gRPC channels to the three
    backends named by SAFEGEN_*_ADDR. All-in-one wiring (in-process backends) is in safegen.serve."""
    core = core or CoreSettings.from_env(env)
    missing = [
        var
        for var, addr in (
            ("SAFEGEN_TEXT_MODERATION_ADDR", core.text_moderation_addr),
            ("SAFEGEN_IMAGE_MODERATION_ADDR", core.image_moderation_addr),
            ("SAFEGEN_IMAGE_GENERATION_ADDR", core.image_generation_addr),
        )
        if not addr
    ]
    if missing:
        # Not fatal (ListGuardrails and health still work); calls that need them get FAILED_PRECONDITION.
        log.warning(
            "the gateway alone has no address for %s: calls needing those backends will fail; set them "
            "(host:port), or run `safegen serve` (all services in one process)",
            ", ".join(missing),
        )
    backends = GrpcBackends(
        core.text_moderation_addr,
        core.image_moderation_addr,
        core.image_generation_addr,
        core.moderation_timeout_s,
        core.generation_timeout_s,
    )
    audit = audit if audit is not None else process_audit_log(env)  # SAFEGEN_AUDIT_LOG, if set
    return servicers_for(DataPlane(backends, registry, blur=blur, audit=audit))
