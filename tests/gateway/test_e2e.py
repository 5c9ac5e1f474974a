"""The whole stack as `safegen serve` wires it (all-in-one: in-process backends, one public port): real text
moderation, the bundled generator, real image moderation (with a detector double only where a test needs
an image judged unsafe), over gRPC and over the HTTP front that calls the same data plane."""

from __future__ import annotations

import base64
import http.client
import io
import json

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from PIL import Image

from safegen.gateway.http import start_http_server
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from safegen.serve import SERVICES, build
from support import RedIsUnsafe, running_server
from safegen.v1 import common_pb2 as c, guardrail_pb2 as gr, guardrail_pb2_grpc as gr_grpc
from safegen.v1 import image_generation_pb2 as gen, image_generation_pb2_grpc as gen_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc

RED_PROMPT = "a red circle on a white background"


class CountingGenerator:
    """Wraps the real ImageGenerator to count generations (proves blocked prompts never generate)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    async def generate(self, request, **kw):
        self.calls += 1
        return await self.inner.generate(request, **kw)

    def close(self):
        self.inner.close()

    def __getattr__(self, name):  # backend, max_queue, key_share: what the gateway's queue admission reads
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def stack():
    registry = GuardrailRegistry.load()
    text, generation = build(["text-moderation"], registry).servicers + build(["image-generation"], registry).servicers
    counting = CountingGenerator(generation.generator)
    generation.generator = counting
    real = build(SERVICES, registry, prebuilt={"text-moderation": text, "image-generation": generation})
    red = build(
        SERVICES,
        registry,
        prebuilt={
            "text-moderation": text,
            "image-generation": generation,
            "image-moderation": image_servicer(registry, detector=RedIsUnsafe()),
        },
    )

    async def http_front(port):
        return await start_http_server("127.0.0.1", 0, real.plane, timeout_seconds=120)

    with running_server(*real.servicers, start_extra=http_front) as (port, http_handle):
        with running_server(*red.servicers) as (red_port, _):
            yield {"port": port, "red_port": red_port, "gen": counting, "http_port": http_handle.port}


def _channel(port):
    return grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 96 << 20)])


def _stub(port):
    return pb_grpc.SafeGenerationServiceStub(_channel(port))


def _http(stack, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", stack["http_port"], timeout=120)
    try:
        conn.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"} if body is not None else {},
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_safe_prompt_gives_a_png_image(stack):
    r = _stub(stack["port"]).Generate(
        pb.GenerateRequest(prompt="a blue square on a yellow background", seed=3, width=128, height=128), timeout=120
    )
    assert r.action == c.ACTION_NONE and r.attempts == 1 and r.guardrail_id == "default"
    assert len(r.images) == 1 and not r.images[0].blurred
    img = Image.open(io.BytesIO(r.images[0].data))
    assert img.format == "PNG" and img.size == (128, 128)
    assert "nsfw" in r.negative_prompt  # the safety negative prompts were passed to the model
    assert r.timings.total_seconds > 0 and r.timings.generation_seconds > 0
    assert r.timings.prompt_moderation_seconds > 0 and r.timings.image_moderation_seconds > 0


@pytest.mark.parametrize(
    "prompt", ["a porn star on a beach", "a p.0.r.n star on a beach", "a p\u200bo\u200br\u200bn star", "a ρ0rn star"]
)
def test_banned_word_prompt_is_blocked_without_generation(stack, prompt):
    before = stack["gen"].calls
    r = _stub(stack["port"]).Generate(pb.GenerateRequest(prompt=prompt), timeout=60)
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED
    assert not r.images and r.attempts == 0 and r.blocked_message
    assert r.prompt_assessment.action == c.ACTION_GUARDRAIL_INTERVENED
    assert any(w.word for w in r.prompt_assessment.words) or any(f.detected for f in r.prompt_assessment.filters)
    assert stack["gen"].calls == before


def test_unsafe_image_is_blurred_after_bounded_regeneration(stack):
    before = stack["gen"].calls
    r = _stub(stack["red_port"]).Generate(
        pb.GenerateRequest(prompt=RED_PROMPT, seed=1, width=64, height=64), timeout=120
    )
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED
    assert r.attempts == 3  # 1 + the default guardrail's 2 regenerations; every red circle is "unsafe"
    assert stack["gen"].calls - before == 3
    [img] = r.images
    assert img.blurred and not img.withheld and img.data
    assert any(lb.HasField("bounding_box") for lb in img.labels)
    assert any("blurred" in w for w in r.warnings)
    out = Image.open(io.BytesIO(img.data))
    assert out.format == "PNG" and out.size == (64, 64)


def test_stream_generate_sends_stage_events_then_result(stack):
    events = list(
        _stub(stack["port"]).StreamGenerate(pb.StreamGenerateRequest(prompt="a green triangle", seed=2), timeout=120)
    )
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "stage" and kinds[-1] == "result" and "progress" in kinds
    stages = {e.stage.stage for e in events if e.HasField("stage")}
    assert stages == {pb.STAGE_PROMPT_MODERATION, pb.STAGE_GENERATION, pb.STAGE_IMAGE_MODERATION}
    assert events[-1].result.images


@pytest.mark.parametrize(
    "req,code,fragment",
    [
        ({"prompt": ""}, grpc.StatusCode.INVALID_ARGUMENT, "prompt must not be empty"),
        ({"prompt": "x" * 5000}, grpc.StatusCode.INVALID_ARGUMENT, "at most 2000"),
        ({"prompt": "a cat", "guardrail_id": "nope"}, grpc.StatusCode.NOT_FOUND, "guardrail 'nope' not found"),
        ({"prompt": "a cat", "width": 100}, grpc.StatusCode.INVALID_ARGUMENT, "width must be a multiple of 8"),
    ],
)
def test_bad_inputs_get_clear_status(stack, req, code, fragment):
    with pytest.raises(grpc.RpcError) as e:
        _stub(stack["port"]).Generate(pb.GenerateRequest(**req), timeout=30)
    assert e.value.code() == code and fragment in e.value.details()


def test_a_huge_unknown_guardrail_id_is_not_found_with_a_bounded_message(stack):
    # 16 KB echoed into the status message used to exceed the metadata limit: RESOURCE_EXHAUSTED.
    huge = "g" * 20_000
    for rpc in ("Generate", "StreamGenerate"):
        with pytest.raises(grpc.RpcError) as e:
            call = getattr(_stub(stack["port"]), rpc)
            result = call(
                pb.GenerateRequest(prompt="a cat", guardrail_id=huge)
                if rpc == "Generate"
                else pb.StreamGenerateRequest(prompt="a cat", guardrail_id=huge),
                timeout=30,
            )
            list(result) if rpc == "StreamGenerate" else result
        assert e.value.code() == grpc.StatusCode.NOT_FOUND, rpc
        details = e.value.details()
        assert details.startswith("guardrail 'ggg") and "characters omitted" in details
        assert details.endswith("known guardrails: " + ", ".join(sorted(g.id for g in GuardrailRegistry.load().all())))
        assert len(details) < 2100
    status, body = _http(stack, "POST", "/v1/generate", {"prompt": "a cat", "guardrailId": huge})
    assert status == 404 and json.loads(body)["status"] == "NOT_FOUND"


def test_apply_guardrail_mixes_text_and_image_blocks(stack):
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 10, 10)).save(png, "PNG")
    stub = gr_grpc.GuardrailServiceStub(_channel(stack["red_port"]))
    r = stub.ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            source=c.SOURCE_OUTPUT,
            content=[
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a quiet lake at dawn")),
                gr.GuardrailContentBlock(image=gr.GuardrailImageBlock(format=gr.IMAGE_FORMAT_PNG, data=png.getvalue())),
            ],
        ),
        timeout=60,
    )
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and r.outputs[0].text
    assert [a.content_index for a in r.assessments] == [0, 1]
    assert r.assessments[0].action == c.ACTION_NONE and r.assessments[1].action == c.ACTION_GUARDRAIL_INTERVENED
    assert "block 1" in r.action_reason
    with pytest.raises(grpc.RpcError) as e:
        stub.ApplyGuardrail(
            gr.ApplyGuardrailRequest(
                content=[
                    gr.GuardrailContentBlock(
                        image=gr.GuardrailImageBlock(format=gr.IMAGE_FORMAT_JPEG, data=png.getvalue())
                    )
                ]
            ),
            timeout=30,
        )
    assert (
        e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "format is JPEG but the bytes are PNG" in e.value.details()
    )
    names = [g.id for g in stub.ListGuardrails(gr.ListGuardrailsRequest()).guardrails]
    assert names[0] == "default" and "permissive-warn" in names


# ------------------------------------------------------------------------------------- no bypass
def _listed_services(port) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(_channel(port))
    resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    return {s.name for s in resp.list_services_response.service}


def test_the_public_port_does_not_serve_image_generation(stack):
    services = _listed_services(stack["port"])
    assert "safegen.v1.ImageGenerationService" not in services
    # The user-facing moderation APIs stay public.
    assert {
        "safegen.v1.SafeGenerationService",
        "safegen.v1.GuardrailService",
        "safegen.v1.TextModerationService",
        "safegen.v1.ImageModerationService",
    } <= services
    stub = gen_grpc.ImageGenerationServiceStub(_channel(stack["port"]))
    before = stack["gen"].calls
    # The prompt the security review got a PNG for, straight from GenerateImages.
    for call in (
        lambda: stub.GenerateImages(gen.GenerateImagesRequest(prompt="a p.0.r.n star"), timeout=30),
        lambda: list(stub.StreamGenerateImages(gen.StreamGenerateImagesRequest(prompt="a p.0.r.n star"), timeout=30)),
    ):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert stack["gen"].calls == before


@pytest.mark.parametrize(
    "port_key,prompt",
    [("port", "a blue square on a yellow background"), ("red_port", RED_PROMPT), ("port", "a p.0.r.n star")],
)
def test_generated_bytes_only_come_with_both_verdicts(stack, port_key, prompt):
    r = _stub(stack[port_key]).Generate(
        pb.GenerateRequest(prompt=prompt, seed=5, width=64, height=64, num_images=2), timeout=120
    )
    assert r.prompt_assessment.action in (c.ACTION_NONE, c.ACTION_GUARDRAIL_INTERVENED)
    assert r.prompt_assessment.filters  # the prompt was judged
    for img in r.images:
        if img.data:
            assert img.action in (c.ACTION_NONE, c.ACTION_GUARDRAIL_INTERVENED) and img.filters  # the image was judged
            if img.action == c.ACTION_GUARDRAIL_INTERVENED:
                assert img.blurred  # the default guardrail blurs what is still unsafe
    if r.prompt_assessment.action == c.ACTION_GUARDRAIL_INTERVENED:
        assert not r.images


# ------------------------------------------------------------------------------ the HTTP front
def test_http_front_calls_the_same_plane(stack):
    status, body = _http(
        stack,
        "POST",
        "/v1/generate",
        {"prompt": "a yellow circle on a blue background", "seed": 4, "width": 64, "height": 64},
    )
    assert status == 200, body
    r = json.loads(body)
    [img] = r["images"]
    assert Image.open(io.BytesIO(base64.b64decode(img["data"]))).format == "PNG"
    assert img["action"] == "ACTION_NONE" and r["promptAssessment"]["action"] == "ACTION_NONE"
    status, body = _http(stack, "POST", "/v1/generate", {"prompt": "a cat", "guardrailId": "nope"})
    assert status == 404 and "guardrail 'nope' not found" in json.loads(body)["message"]
    status, body = _http(stack, "POST", "/v1/generate", {"prompt": "a cat", "width": 100})
    assert status == 400 and json.loads(body)["status"] == "INVALID_ARGUMENT"
    status, body = _http(stack, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "SERVING"}
    status, body = _http(stack, "GET", "/v1/guardrails")
    assert status == 200 and json.loads(body)["guardrails"][0]["id"] == "default"


def test_http_stream_over_the_plane(stack):
    status, body = _http(
        stack, "POST", "/v1/generate:stream", {"prompt": "a green triangle", "seed": 2, "width": 64, "height": 64}
    )
    assert status == 200
    events = [line.split(": ", 1)[1] for line in body.decode().splitlines() if line.startswith("event: ")]
    assert events[0] == "stage" and "progress" in events and events[-1] == "result"
    status, body = _http(stack, "POST", "/v1/generate:stream", {"prompt": "", "seed": 2})
    assert status == 400 and "prompt must not be empty" in json.loads(body)["message"]


def test_all_in_one_image_service_reuses_the_text_services_moderator_for_ocr_text():
    """One process, one text classifier: image moderation judges OCR text with the text service's moderator."""

    class Generation:  # generation is not under test here; the wiring only needs something to close
        async def aclose(self):
            pass

    registry = GuardrailRegistry.load()
    wiring = build(SERVICES, registry, prebuilt={"image-generation": Generation()})
    text = next(s for s in wiring.servicers if type(s).__name__ == "TextModerationServicer")
    image = next(s for s in wiring.servicers if type(s).__name__ == "ImageModerationServicer")
    assert image.moderator.text is text.moderator


def test_a_threat_prompt_is_blocked_with_its_span_in_the_prompt_assessment(stack):
    before = stack["gen"].calls
    prompt = "a sign: I will k1ll you"
    r = _stub(stack["port"]).Generate(pb.GenerateRequest(prompt=prompt), timeout=60)
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and not r.images and stack["gen"].calls == before
    [t] = r.prompt_assessment.threats
    assert (t.match, t.start, t.end, t.category, t.action) == (
        "I will k1ll you",
        8,
        23,
        c.CATEGORY_VIOLENCE,
        c.POLICY_ACTION_BLOCKED,
    )
    assert prompt[t.start : t.end] == t.match
    status, raw = _http(stack, "POST", "/v1/generate", {"prompt": prompt})
    assert status == 200
    assert json.loads(raw)["promptAssessment"]["threats"] == [
        {
            "match": "I will k1ll you",
            "start": 8,
            "end": 23,
            "category": "CATEGORY_VIOLENCE",
            "kind": "intent",
            "action": "POLICY_ACTION_BLOCKED",
        }
    ]
