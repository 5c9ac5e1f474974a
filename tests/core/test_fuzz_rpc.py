"""Property-based fuzzing of every safegen.v1 RPC on one real server (all five services, cheap model doubles):
whatever a caller sends, the answer is a response or a precise status, never INTERNAL or UNKNOWN."""

from __future__ import annotations

import io

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from safegen.serve import SERVICES, build
from safegen.generation.backends.base import GenerationBackend
from safegen.generation.request import GenerationResult, Limits
from safegen.generation.servicer import create_servicer as generation_servicer
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from safegen.text.backends.local import LocalClassifierBackend
from safegen.text.servicer import create_servicer as text_servicer
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
from support import RedIsUnsafe, serve
from support.fuzz import messages

BUDGET = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


class NoScores:
    name = "none"

    def score(self, texts):
        return [{} for _ in texts]


class Solid(GenerationBackend):
    """Instant images: a red square when the prompt says red (so the image double flags it), else blue."""

    name = "solid"

    @property
    def model_id(self) -> str:
        return "solid"

    @property
    def limits(self) -> Limits:
        return Limits()

    def generate(self, request, progress, cancel) -> GenerationResult:
        from PIL import Image

        color = (220, 20, 20) if "red" in request.prompt.lower() else (20, 20, 220)
        images, seeds = [], []
        for i in range(request.num_images):
            buf = io.BytesIO()
            Image.new("RGB", (64, 64), color).save(buf, "PNG", compress_level=1)
            images.append(buf.getvalue())
            seeds.append((request.seed or 0) + i)
            if progress is not None:
                progress(1, 1)
        return GenerationResult(images=images, seeds=seeds, model_id="solid", backend="solid")


@pytest.fixture(scope="module")
def channel():
    registry = GuardrailRegistry.load()
    generation = generation_servicer(registry, {}, backend=Solid())
    wiring = build(
        SERVICES,
        registry,
        {},
        prebuilt={
            "text-moderation": text_servicer(registry, {}, backend=LocalClassifierBackend(NoScores())),
            "image-moderation": image_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe()),
            "image-generation": generation,
        },
    )
    # The all-in-one wiring, plus the generation service as split mode serves it, so both get fuzzed.
    with serve(*wiring.servicers, generation) as port:
        opts = [("grpc.max_receive_message_length", 100 << 20), ("grpc.max_send_message_length", 100 << 20)]
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=opts) as ch:
            yield ch


def check(call) -> None:
    try:
        result = call()
        if hasattr(result, "__iter__") and not hasattr(result, "ByteSize"):
            for _ in result:
                pass
    except grpc.RpcError as e:
        assert e.code() not in NEVER, f"{e.code().name}: {e.details()}"
        assert e.details(), f"{e.code().name} without a message"


@BUDGET
@given(messages(text_moderation_pb2.ModerateTextRequest.DESCRIPTOR))
def test_moderate_text(channel, req):
    check(lambda: text_moderation_pb2_grpc.TextModerationServiceStub(channel).ModerateText(req, timeout=30))


@BUDGET
@given(messages(image_moderation_pb2.ModerateImagesRequest.DESCRIPTOR))
def test_moderate_images(channel, req):
    check(lambda: image_moderation_pb2_grpc.ImageModerationServiceStub(channel).ModerateImages(req, timeout=30))


@BUDGET
@given(messages(image_generation_pb2.GenerateImagesRequest.DESCRIPTOR))
def test_generate_images(channel, req):
    check(lambda: image_generation_pb2_grpc.ImageGenerationServiceStub(channel).GenerateImages(req, timeout=30))


@BUDGET
@given(messages(image_generation_pb2.StreamGenerateImagesRequest.DESCRIPTOR))
def test_stream_generate_images(channel, req):
    check(lambda: image_generation_pb2_grpc.ImageGenerationServiceStub(channel).StreamGenerateImages(req, timeout=30))


@BUDGET
@given(messages(safe_generation_pb2.GenerateRequest.DESCRIPTOR))
def test_generate(channel, req):
    check(lambda: safe_generation_pb2_grpc.SafeGenerationServiceStub(channel).Generate(req, timeout=30))


@BUDGET
@given(messages(safe_generation_pb2.StreamGenerateRequest.DESCRIPTOR))
def test_stream_generate(channel, req):
    check(lambda: safe_generation_pb2_grpc.SafeGenerationServiceStub(channel).StreamGenerate(req, timeout=30))


@BUDGET
@given(messages(guardrail_pb2.ApplyGuardrailRequest.DESCRIPTOR))
def test_apply_guardrail(channel, req):
    check(lambda: guardrail_pb2_grpc.GuardrailServiceStub(channel).ApplyGuardrail(req, timeout=30))


@BUDGET
@given(messages(guardrail_pb2.ListGuardrailsRequest.DESCRIPTOR))
def test_list_guardrails(channel, req):
    check(lambda: guardrail_pb2_grpc.GuardrailServiceStub(channel).ListGuardrails(req, timeout=30))
