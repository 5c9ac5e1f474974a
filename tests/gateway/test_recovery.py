"""Split mode over real gRPC servers on port 0 that are stopped and restarted: fail fast while image moderation
is down (no generation spent), reconnect within 2 s of a backend listening again, convert verdicts exactly."""

from __future__ import annotations

import io
import time

import grpc
import pytest
from PIL import Image

from safegen.gateway.clients import READY_WAIT_S, GrpcBackends
from safegen.gateway.plane import DataPlane
from safegen.gateway.servicer import servicers_for
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from support import RedIsUnsafe, running_server
from safegen.v1 import common_pb2 as c, image_generation_pb2 as gen, image_generation_pb2_grpc as gen_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc
from safegen.v1 import text_moderation_pb2 as tm, text_moderation_pb2_grpc as tm_grpc


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, "PNG")
    return buf.getvalue()


class FakeText(tm_grpc.TextModerationServiceServicer):
    async def ModerateText(self, request, context):
        return tm.ModerateTextResponse(
            action=c.ACTION_NONE,
            guardrail_id=request.guardrail_id or "default",
            filters=[
                c.FilterResult(
                    category=c.CATEGORY_SEXUAL,
                    score=0.01,
                    confidence=c.CONFIDENCE_NONE,
                    filter_strength=c.FILTER_STRENGTH_HIGH,
                )
            ],
        )


class FakeGeneration(gen_grpc.ImageGenerationServiceServicer):
    """Red images for prompts saying "red", blue otherwise; counts every generation it is asked for."""

    def __init__(self):
        self.calls = 0

    async def GenerateImages(self, request, context):
        self.calls += 1
        n = request.num_images or 1
        color = (250, 10, 10) if "red" in request.prompt else (10, 10, 250)
        return gen.GenerateImagesResponse(
            images=[_png(color)] * n,
            seeds=[request.seed + i for i in range(n)],
            model_id="fake-model",
            backend="fake",
            negative_prompt_applied=True,
        )


@pytest.fixture()
def split(tmp_path):
    """Text and generation up for the whole test; image moderation started by the test (on a fixed port)."""
    registry = GuardrailRegistry.load()
    generation = FakeGeneration()
    with running_server(FakeText()) as (text_port, _), running_server(generation) as (gen_port, _):
        with running_server(image_servicer(registry, detector=RedIsUnsafe())) as (image_port, _):
            pass  # only to find a free port for image moderation
        backends = GrpcBackends(f"127.0.0.1:{text_port}", f"127.0.0.1:{image_port}", f"127.0.0.1:{gen_port}")
        with running_server(*servicers_for(DataPlane(backends, registry))) as (gw_port, _):
            stub = pb_grpc.SafeGenerationServiceStub(grpc.insecure_channel(f"127.0.0.1:{gw_port}"))
            yield {
                "stub": stub,
                "image_addr": f"127.0.0.1:{image_port}",
                "generation": generation,
                "registry": registry,
            }


def _image_moderation(split):
    return running_server(image_servicer(split["registry"], detector=RedIsUnsafe()), address=split["image_addr"])


def test_verdicts_cross_the_grpc_adapters_intact(split):
    with _image_moderation(split):
        r = split["stub"].Generate(pb.GenerateRequest(prompt="a red circle", seed=1), timeout=30)
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and r.attempts == 3 and r.model_id == "fake-model"
    [img] = r.images
    assert img.blurred and img.action == c.ACTION_GUARDRAIL_INTERVENED
    [label] = img.labels
    assert label.category == c.CATEGORY_SEXUAL and label.HasField("bounding_box") and label.bounding_box.width > 0.9
    assert [f.category for f in img.filters if f.detected] == [c.CATEGORY_SEXUAL]
    assert r.prompt_assessment.action == c.ACTION_NONE and r.prompt_assessment.filters[0].category == c.CATEGORY_SEXUAL


def test_no_generation_while_image_moderation_is_down_then_fast_recovery(split):
    stub, generation = split["stub"], split["generation"]
    with _image_moderation(split):
        assert stub.Generate(pb.GenerateRequest(prompt="a blue square", seed=1), timeout=30).images
    calls = generation.calls
    # Down for longer than gRPC's default backoff schedule would retry within (1 s, then 1.6 s, 2.56 s...).
    t_end = time.monotonic() + 4.0
    failures = 0
    while time.monotonic() < t_end:
        with pytest.raises(grpc.RpcError) as e:
            stub.Generate(pb.GenerateRequest(prompt="a blue square", seed=1), timeout=30)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "image moderation" in e.value.details() and split["image_addr"] in e.value.details()
        failures += 1
        time.sleep(0.2)
    assert generation.calls == calls, "a generation ran while its images could not be moderated"
    assert failures >= 5

    with _image_moderation(split):
        t0 = time.monotonic()
        while True:
            try:
                r = stub.Generate(pb.GenerateRequest(prompt="a blue square", seed=1), timeout=30)
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                assert time.monotonic() - t0 < 10, "the gateway never reconnected"
                time.sleep(0.05)
        recovered = time.monotonic() - t0
    assert r.images and r.images[0].action == c.ACTION_NONE
    print(f"reconnected {recovered:.2f} s after image moderation listened again")
    assert recovered < 2.0, f"reconnect took {recovered:.2f} s; the reconnect backoff is capped at 1 s"


def test_a_dead_backend_is_retried_at_least_every_1_2_seconds():
    """The gateway's own channel to a backend that accepts TCP and hangs up (as a crashing pod does):
    every connection attempt is recorded. gRPC's default backoff spaces them 1 s, 1.6 s, 2.6 s...;
    capped, they stay within 1 s plus gRPC's 20% jitter, so a backend that comes back is reached fast."""
    import asyncio
    import socket
    import threading

    from safegen.errors import Unavailable

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    attempts: list[float] = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(time.monotonic())
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    addr = f"127.0.0.1:{listener.getsockname()[1]}"

    async def watch():
        backends = GrpcBackends("127.0.0.1:1", addr, "127.0.0.1:1")
        try:
            t0 = time.monotonic()
            with pytest.raises(Unavailable, match=f"image moderation at {addr} is unreachable"):
                await backends.image_moderation_ready()
            assert time.monotonic() - t0 < READY_WAIT_S + 0.5  # fails fast, not after a call timeout
            await asyncio.sleep(4.5)
        finally:
            await backends.aclose()

    try:
        asyncio.run(watch())
    finally:
        listener.close()
    gaps = [round(b - a, 2) for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) >= 6, gaps
    assert max(gaps) <= 1.25, f"reconnect attempts {gaps} s apart: the backoff is not capped at 1 s"


def test_threat_matches_cross_the_text_adapter_intact():
    """Split mode with the real text servicer in its own server: ApplyGuardrail and Generate on the gateway
    carry the text service's threat matches (span, kind, action) as it sent them."""
    from safegen.text.backends.local import WordsOnlyBackend
    from safegen.text.servicer import create_servicer as text_servicer
    from safegen.v1 import guardrail_pb2 as gr, guardrail_pb2_grpc as gr_grpc

    registry = GuardrailRegistry.load()
    text = "ok. I will k i l l y0u"
    generation = FakeGeneration()
    with (
        running_server(text_servicer(registry, {}, backend=WordsOnlyBackend())) as (text_port, _),
        running_server(generation) as (gen_port, _),
        running_server(image_servicer(registry, detector=RedIsUnsafe())) as (image_port, _),
    ):
        direct = tm_grpc.TextModerationServiceStub(grpc.insecure_channel(f"127.0.0.1:{text_port}")).ModerateText(
            tm.ModerateTextRequest(text=text), timeout=30
        )
        backends = GrpcBackends(f"127.0.0.1:{text_port}", f"127.0.0.1:{image_port}", f"127.0.0.1:{gen_port}")
        with running_server(*servicers_for(DataPlane(backends, registry))) as (gw_port, _):
            channel = grpc.insecure_channel(f"127.0.0.1:{gw_port}")
            applied = gr_grpc.GuardrailServiceStub(channel).ApplyGuardrail(
                gr.ApplyGuardrailRequest(
                    source=c.SOURCE_INPUT, content=[gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text=text))]
                ),
                timeout=30,
            )
            generated = pb_grpc.SafeGenerationServiceStub(channel).Generate(pb.GenerateRequest(prompt=text), timeout=30)
    [t] = direct.threats
    assert (t.match, t.start, t.end, t.kind, t.action) == (
        "I will k i l l y0u",
        4,
        22,
        "intent",
        c.POLICY_ACTION_BLOCKED,
    )
    assert list(applied.assessments[0].threats) == list(direct.threats)
    assert list(generated.prompt_assessment.threats) == list(direct.threats)
    assert generated.action == c.ACTION_GUARDRAIL_INTERVENED and generation.calls == 0
