"""gRPC servicer for safegen.v1.ImageGenerationService: converts proto <-> domain and nothing more."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Mapping

from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.generation.backends import build_backend
from safegen.generation.generator import ImageGenerator
from safegen.generation.settings import GenerationSettings
from safegen.policy import GuardrailRegistry
from safegen.v1 import common_pb2, image_generation_pb2 as pb, image_generation_pb2_grpc as pb_grpc


def to_domain(request, registry: GuardrailRegistry) -> GenerationRequest:
    """GenerateImagesRequest or StreamGenerateImagesRequest -> GenerationRequest with the guardrail's
    safety negative prompts attached (NotFound for an unknown guardrail_id)."""
    guardrail = registry.get(request.guardrail_id, request.guardrail_version)
    return GenerationRequest(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        width=request.width,
        height=request.height,
        num_images=request.num_images,
        steps=request.steps,
        guidance_scale=request.guidance_scale,
        seed=request.seed if request.HasField("seed") else None,
        safety_negative_prompts=tuple(guardrail.negative_prompts),
    )


def to_proto(result: GenerationResult) -> pb.GenerateImagesResponse:
    return pb.GenerateImagesResponse(
        images=result.images,
        seeds=result.seeds,
        model_id=result.model_id,
        backend=result.backend,
        negative_prompt=result.negative_prompt,
        negative_prompt_applied=result.negative_prompt_applied,
        notes=result.notes,
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED if result.intervened else common_pb2.ACTION_NONE,
        action_reason=result.intervention_reason,
    )


class ImageGenerationServicer(pb_grpc.ImageGenerationServiceServicer):
    def __init__(self, generator: ImageGenerator, registry: GuardrailRegistry):
        self.generator = generator
        self.registry = registry

    async def GenerateImages(self, request, context):
        result = await self.generator.generate(to_domain(request, self.registry), timeout=context.time_remaining())
        return to_proto(result)

    async def StreamGenerateImages(self, request, context):
        domain = to_domain(request, self.registry)
        events: asyncio.Queue = asyncio.Queue()
        task = asyncio.ensure_future(
            self.generator.generate(
                domain,
                on_progress=lambda step, total: events.put_nowait((step, total)),
                timeout=context.time_remaining(),
            )
        )
        try:
            while not task.done():
                getter = asyncio.ensure_future(events.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    step, total = getter.result()
                    yield pb.StreamGenerateImagesResponse(progress=pb.GenerationProgress(step=step, total_steps=total))
                else:
                    getter.cancel()
            while not events.empty():
                step, total = events.get_nowait()
                yield pb.StreamGenerateImagesResponse(progress=pb.GenerationProgress(step=step, total_steps=total))
            yield pb.StreamGenerateImagesResponse(result=to_proto(task.result()))
        finally:
            if not task.done():
                # The client went away: cancelling the task sets the backend's cancel flag.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def aclose(self) -> None:
        self.generator.close()


def create_servicer(
    registry: GuardrailRegistry, env: Mapping[str, str] | None = None, backend=None
) -> ImageGenerationServicer:
    """Reads SAFEGEN_GEN_* settings, builds (or takes) the backend, loads the model, builds the servicer."""
    settings = GenerationSettings.from_env(env)
    generator = ImageGenerator(backend if backend is not None else build_backend(settings), settings.max_queue)
    return ImageGenerationServicer(generator, registry)
