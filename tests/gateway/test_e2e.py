"""The whole gateway flow through real gRPC: real text moderation, the bundled generator, real image
moderation (with a detector double only where a test needs an image judged unsafe)."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from safegen.cli import build_servicers
from safegen.policy import GuardrailRegistry
from support import RedIsUnsafe, serve
from safegen.v1 import common_pb2 as c, guardrail_pb2 as gr, guardrail_pb2_grpc as gr_grpc
from safegen.v1 import image_generation_pb2_grpc as gen_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc

RED_PROMPT = "a red circle on a white background"


class CountingGeneration:
    """Wraps the real generation servicer to count calls (proves blocked prompts never generate)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def wrap(self):
        outer = self

        class Counted(gen_grpc.ImageGenerationServiceServicer):
            async def GenerateImages(self, request, context):
                outer.calls += 1
                return await outer.inner.GenerateImages(request, context)

            async def StreamGenerateImages(self, request, context):
                outer.calls += 1
                async for e in outer.inner.StreamGenerateImages(request, context):
                    yield e

        return Counted()


@pytest.fixture(scope="module")
def stack():
    from safegen.image.servicer import create_servicer as image_servicer

    registry = GuardrailRegistry.load()
    text, generation = build_servicers(["text-moderation", "image-generation"], registry)
    counting = CountingGeneration(generation)
    image_real = image_servicer(registry)
    with serve(text, counting.wrap(), image_real, *build_servicers(["gateway"], registry)) as port:
        with serve(text, counting.wrap(), image_servicer(registry, detector=RedIsUnsafe()),
                   *build_servicers(["gateway"], registry)) as red_port:
            yield {"port": port, "red_port": red_port, "gen": counting}


def _stub(port):
    return pb_grpc.SafeGenerationServiceStub(grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 96 << 20)]))


def test_safe_prompt_gives_a_png_image(stack):
    r = _stub(stack["port"]).Generate(pb.GenerateRequest(prompt="a blue square on a yellow background", seed=3,
                                                          width=128, height=128), timeout=120)
    assert r.action == c.ACTION_NONE and r.attempts == 1 and r.guardrail_id == "default"
    assert len(r.images) == 1 and not r.images[0].blurred
    img = Image.open(io.BytesIO(r.images[0].data))
    assert img.format == "PNG" and img.size == (128, 128)
    assert "nsfw" in r.negative_prompt  # the safety negative prompts were passed to the model
    assert r.timings.total_seconds > 0 and r.timings.generation_seconds > 0
    assert r.timings.prompt_moderation_seconds > 0 and r.timings.image_moderation_seconds > 0


@pytest.mark.parametrize("prompt", ["a porn star on a beach", "a p.0.r.n star on a beach", "a p\u200bo\u200br\u200bn star",
                                    "a ρ0rn star"])
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
    r = _stub(stack["red_port"]).Generate(pb.GenerateRequest(prompt=RED_PROMPT, seed=1, width=64, height=64), timeout=120)
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED
    assert r.attempts == 3  # 1 + the default guardrail's 2 regenerations; every red circle is "unsafe"
    assert stack["gen"].calls - before == 3
    [img] = r.images
    assert img.blurred and not img.withheld and img.data
    assert any(l.HasField("bounding_box") for l in img.labels)
    assert any("blurred" in w for w in r.warnings)
    out = Image.open(io.BytesIO(img.data))
    assert out.format == "PNG" and out.size == (64, 64)


def test_stream_generate_sends_stage_events_then_result(stack):
    events = list(_stub(stack["port"]).StreamGenerate(pb.StreamGenerateRequest(prompt="a green triangle", seed=2),
                                                      timeout=120))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "stage" and kinds[-1] == "result" and "progress" in kinds
    stages = {e.stage.stage for e in events if e.HasField("stage")}
    assert stages == {pb.STAGE_PROMPT_MODERATION, pb.STAGE_GENERATION, pb.STAGE_IMAGE_MODERATION}
    assert events[-1].result.images


@pytest.mark.parametrize("req,code,fragment", [
    ({"prompt": ""}, grpc.StatusCode.INVALID_ARGUMENT, "prompt must not be empty"),
    ({"prompt": "x" * 5000}, grpc.StatusCode.INVALID_ARGUMENT, "at most 2000"),
    ({"prompt": "a cat", "guardrail_id": "nope"}, grpc.StatusCode.NOT_FOUND, "guardrail 'nope' not found"),
    ({"prompt": "a cat", "width": 100}, grpc.StatusCode.INVALID_ARGUMENT, "width must be a multiple of 8"),
])
def test_bad_inputs_get_clear_status(stack, req, code, fragment):
    with pytest.raises(grpc.RpcError) as e:
        _stub(stack["port"]).Generate(pb.GenerateRequest(**req), timeout=30)
    assert e.value.code() == code and fragment in e.value.details()


def test_apply_guardrail_mixes_text_and_image_blocks(stack):
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (250, 10, 10)).save(png, "PNG")
    stub = gr_grpc.GuardrailServiceStub(grpc.insecure_channel(f"127.0.0.1:{stack['red_port']}"))
    r = stub.ApplyGuardrail(gr.ApplyGuardrailRequest(source=c.SOURCE_OUTPUT, content=[
        gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a quiet lake at dawn")),
        gr.GuardrailContentBlock(image=gr.GuardrailImageBlock(format=gr.IMAGE_FORMAT_PNG, data=png.getvalue())),
    ]), timeout=60)
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and r.outputs[0].text
    assert [a.content_index for a in r.assessments] == [0, 1]
    assert r.assessments[0].action == c.ACTION_NONE and r.assessments[1].action == c.ACTION_GUARDRAIL_INTERVENED
    assert "block 1" in r.action_reason
    with pytest.raises(grpc.RpcError) as e:
        stub.ApplyGuardrail(gr.ApplyGuardrailRequest(content=[gr.GuardrailContentBlock(
            image=gr.GuardrailImageBlock(format=gr.IMAGE_FORMAT_JPEG, data=png.getvalue()))]), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "format is JPEG but the bytes are PNG" in e.value.details()
    names = [g.id for g in stub.ListGuardrails(gr.ListGuardrailsRequest()).guardrails]
    assert names[0] == "default" and "permissive-warn" in names
