"""Test doubles of the gateway's two services, for HTTP-layer tests that need exact control of errors.

They raise the real domain exceptions, so the real interceptor turns them into gRPC statuses and the
HTTP front sees exactly what it would see from the real gateway.
"""

from __future__ import annotations

import asyncio

from safegen import errors
from safegen.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc, image_generation_pb2
from safegen.v1 import safe_generation_pb2 as pb
from safegen.v1 import safe_generation_pb2_grpc

PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cf"
    "c0000003010100c9fe92ef0000000049454e44ae426082"
)

# A prompt "raise:NAME" makes the fake raise the domain error NAME with this message.
RAISE = {
    "INVALID_ARGUMENT": errors.InvalidArgument,
    "NOT_FOUND": errors.NotFound,
    "RESOURCE_EXHAUSTED": errors.ResourceExhausted,
    "FAILED_PRECONDITION": errors.FailedPrecondition,
    "UNAVAILABLE": errors.Unavailable,
    "DEADLINE_EXCEEDED": errors.DeadlineExceeded,
    "CANCELLED": errors.Cancelled,
}


def _maybe_raise(prompt: str) -> None:
    if prompt.startswith("raise:"):
        name = prompt.split(":", 1)[1]
        if name == "INTERNAL":
            raise RuntimeError("secret internal detail")  # must never reach the caller
        raise RAISE[name](f"fake {name} for {prompt!r}")


def result_for(request) -> pb.GenerateResponse:
    """A full response echoing the request, with every kind of field (bytes, int64, enums, doubles)."""
    return pb.GenerateResponse(
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED,
        prompt_assessment=pb.PromptAssessment(
            action=common_pb2.ACTION_NONE,
            filters=[
                common_pb2.FilterResult(
                    category=common_pb2.CATEGORY_SEXUAL,
                    score=0.125,
                    confidence=common_pb2.CONFIDENCE_NONE,
                    filter_strength=common_pb2.FILTER_STRENGTH_HIGH,
                )
            ],
        ),
        images=[
            pb.GeneratedImage(
                data=PNG_1x1,
                mime_type="image/png",
                blurred=True,
                action=common_pb2.ACTION_GUARDRAIL_INTERVENED,
                labels=[
                    common_pb2.ModerationLabel(
                        name="Red",
                        confidence=99.5,
                        taxonomy_level=1,
                        bounding_box=common_pb2.BoundingBox(left=0.25, top=0.25, width=0.5, height=0.5),
                        category=common_pb2.CATEGORY_VIOLENCE,
                    )
                ],
                seed=request.seed if request.HasField("seed") else 2**40 + 7,
                attempt=1,
            )
        ],
        warnings=["image 1 was blurred"],
        attempts=1,
        timings=pb.StageTimings(
            prompt_moderation_seconds=0.001,
            generation_seconds=0.5,
            image_moderation_seconds=0.01,
            total_seconds=0.52,
            moderation_overhead_ratio=0.011 / 0.52,
        ),
        guardrail_id=request.guardrail_id or "default",
        model_id="fake",
        negative_prompt=request.negative_prompt,
    )


class FakeSafeGeneration(safe_generation_pb2_grpc.SafeGenerationServiceServicer):
    def __init__(self):
        self.requests: list = []
        self.cancelled = asyncio.Event()

    async def Generate(self, request, context):
        self.requests.append(request)
        _maybe_raise(request.prompt)
        if request.prompt == "slow":
            await asyncio.sleep(30)
        if request.prompt.startswith("sleep:"):
            await asyncio.sleep(float(request.prompt.split(":", 1)[1]))
        return result_for(request)

    async def StreamGenerate(self, request, context):
        self.requests.append(request)
        _maybe_raise(request.prompt)
        yield pb.StreamGenerateResponse(
            stage=pb.StageEvent(stage=pb.STAGE_PROMPT_MODERATION, finished=True, seconds=0.001, detail="prompt passed")
        )
        if request.prompt == "fail-mid-stream":
            raise errors.Unavailable("image generation backend went away")
        if request.prompt == "hang":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        for step in (1, 2):
            if request.prompt.startswith("sleep:"):
                await asyncio.sleep(float(request.prompt.split(":", 1)[1]))
            yield pb.StreamGenerateResponse(progress=image_generation_pb2.GenerationProgress(step=step, total_steps=2))
        yield pb.StreamGenerateResponse(result=result_for(request))


class FakeGuardrails(guardrail_pb2_grpc.GuardrailServiceServicer):
    async def ListGuardrails(self, request, context):
        return guardrail_pb2.ListGuardrailsResponse(
            guardrails=[
                guardrail_pb2.GuardrailSummary(id="default", name="Default", description="blocks", is_default=True),
                guardrail_pb2.GuardrailSummary(id="permissive-warn", name="Permissive", description="warns"),
            ]
        )

    async def ApplyGuardrail(self, request, context):
        if request.guardrail_id not in ("", "default"):
            raise errors.NotFound(f"no guardrail named {request.guardrail_id!r}")
        return guardrail_pb2.ApplyGuardrailResponse(
            action=common_pb2.ACTION_NONE,
            guardrail_id="default",
            assessments=[
                guardrail_pb2.GuardrailAssessment(content_index=i, action=common_pb2.ACTION_NONE)
                for i, _ in enumerate(request.content)
            ],
        )
