"""The server factory and the interceptor over real gRPC: status mapping, metrics, health, reflection, ports."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import REGISTRY

from safegen import errors
from safegen.core.server import create_server
from support import serve
from safegen.v1 import image_generation_pb2 as gen_pb, image_generation_pb2_grpc as gen_grpc
from safegen.v1 import text_moderation_pb2 as pb, text_moderation_pb2_grpc as pb_grpc

RAISES = {
    "invalid": errors.InvalidArgument("text must not be empty"),
    "notfound": errors.NotFound("guardrail 'x' not found"),
    "exhausted": errors.ResourceExhausted("queue full"),
    "precondition": errors.FailedPrecondition("access denied"),
    "unavailable": errors.Unavailable("backend down"),
    "boom": RuntimeError("secret internal detail /etc/passwd"),
}


class Raising(pb_grpc.TextModerationServiceServicer):
    async def ModerateText(self, request, context):
        if request.text in RAISES:
            raise RAISES[request.text]
        return pb.ModerateTextResponse(guardrail_id="ok")


class Streaming(gen_grpc.ImageGenerationServiceServicer):
    async def StreamGenerateImages(self, request, context):
        for i in range(3):
            yield gen_pb.StreamGenerateImagesResponse(progress=gen_pb.GenerationProgress(step=i + 1, total_steps=3))
            await asyncio.sleep(0)
        if request.prompt == "fail":
            raise errors.ResourceExhausted("generation queue is full (2 waiting); retry later")
        yield gen_pb.StreamGenerateImagesResponse(result=gen_pb.GenerateImagesResponse(model_id="m"))


def _value(name, labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _eventually(name, labels, want, timeout=2.0):
    # The server records an RPC after its status is sent, so the client may look a moment early.
    deadline = time.monotonic() + timeout
    while _value(name, labels) != want and time.monotonic() < deadline:
        time.sleep(0.01)
    return _value(name, labels)


@pytest.fixture(scope="module")
def port():
    with serve(Raising(), Streaming()) as p:
        yield p


@pytest.fixture(scope="module")
def channel(port):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch


@pytest.mark.parametrize(
    "text,code",
    [
        ("invalid", grpc.StatusCode.INVALID_ARGUMENT),
        ("notfound", grpc.StatusCode.NOT_FOUND),
        ("exhausted", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("precondition", grpc.StatusCode.FAILED_PRECONDITION),
        ("unavailable", grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_domain_errors_map_to_status_with_message(channel, text, code):
    with pytest.raises(grpc.RpcError) as e:
        pb_grpc.TextModerationServiceStub(channel).ModerateText(pb.ModerateTextRequest(text=text))
    assert e.value.code() == code
    assert e.value.details() == RAISES[text].message


def test_unexpected_errors_are_internal_without_leaking(channel):
    with pytest.raises(grpc.RpcError) as e:
        pb_grpc.TextModerationServiceStub(channel).ModerateText(pb.ModerateTextRequest(text="boom"))
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in e.value.details() and "internal error (id" in e.value.details()


def test_metrics_use_grpc_ecosystem_names_and_codes(channel):
    labels = {"grpc_type": "unary", "grpc_service": "safegen.v1.TextModerationService", "grpc_method": "ModerateText"}
    ok0 = _value("grpc_server_handled_total", {**labels, "grpc_code": "OK"})
    bad0 = _value("grpc_server_handled_total", {**labels, "grpc_code": "InvalidArgument"})
    n0 = _value("grpc_server_handling_seconds_count", labels)
    stub = pb_grpc.TextModerationServiceStub(channel)
    assert stub.ModerateText(pb.ModerateTextRequest(text="fine")).guardrail_id == "ok"
    with pytest.raises(grpc.RpcError):
        stub.ModerateText(pb.ModerateTextRequest(text="invalid"))
    assert _eventually("grpc_server_handled_total", {**labels, "grpc_code": "OK"}, ok0 + 1) == ok0 + 1
    assert _eventually("grpc_server_handled_total", {**labels, "grpc_code": "InvalidArgument"}, bad0 + 1) == bad0 + 1
    assert _eventually("grpc_server_handling_seconds_count", labels, n0 + 2) == n0 + 2


def test_server_streaming_errors_after_messages(channel):
    stub = gen_grpc.ImageGenerationServiceStub(channel)
    events = list(stub.StreamGenerateImages(gen_pb.StreamGenerateImagesRequest(prompt="ok")))
    assert [e.WhichOneof("event") for e in events] == ["progress"] * 3 + ["result"]
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for ev in stub.StreamGenerateImages(gen_pb.StreamGenerateImagesRequest(prompt="fail")):
            got.append(ev)
    assert len(got) == 3 and e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    labels = {
        "grpc_type": "server_stream",
        "grpc_service": "safegen.v1.ImageGenerationService",
        "grpc_method": "StreamGenerateImages",
        "grpc_code": "ResourceExhausted",
    }
    assert _eventually("grpc_server_handled_total", labels, 1.0) >= 1


def test_health_per_service_and_overall(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", "safegen.v1.TextModerationService", "safegen.v1.ImageGenerationService"):
        assert stub.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        stub.Check(health_pb2.HealthCheckRequest(service="safegen.v1.Nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_services(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in resp.list_services_response.service}
    assert {"safegen.v1.TextModerationService", "safegen.v1.ImageGenerationService", "grpc.health.v1.Health"} <= names


def test_port_in_use_fails_instead_of_sharing(port):
    # so_reuseport=0: a second server on the same port must not silently steal connections.
    async def second():
        return await create_server([Raising()], f"127.0.0.1:{port}")

    with pytest.raises(Exception):
        asyncio.run(second())


def test_unknown_servicer_type_is_rejected():
    with pytest.raises(TypeError, match="does not subclass"):
        asyncio.run(create_server([object()]))


def test_port_zero_binds_a_free_port():
    async def build():
        server, p = await create_server([Raising()], "127.0.0.1:0")
        await server.stop(None)
        return p

    assert asyncio.run(build()) > 0
