"""In-process adapters of the `Backends` port: the all-in-one gateway calls this process's moderation services and generator directly.

No loopback channel and no serialisation: request and response messages are built in memory and a
generated image goes from the generator to the image moderator and into the caller's response as the
same bytes. The calls run where the services run them (text in a worker thread, images on the image
service's bounded pool and its queue gauge, generation through ImageGenerator's queue), so limits and
concurrency are the same for the gateway and for public callers. Images the gateway moderates are not
charged to any caller's image budget (the request that made them already paid), as before.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Sequence

from safegen.errors import FailedPrecondition
from safegen.gateway.ports import OnProgress
from safegen.generation.servicer import to_domain, to_proto
from safegen.v1 import image_generation_pb2, image_moderation_pb2, text_moderation_pb2


class InProcessBackends:
    """The port over the text and image moderation servicers' transport-free `moderate` and the generation
    servicer's generator (None: a moderation-only wiring); `closers` are awaited by aclose."""

    def __init__(self, text, image, generation=None, *, generation_timeout_s: float = 600.0,
                 closers: Sequence[Callable[[], Awaitable[None]]] = ()):
        self.text = text
        self.image = image
        self.generation = generation
        self.generation_timeout_s = generation_timeout_s
        self._closers = list(closers)

    async def moderate_text(self, text: str, source: int, guardrail_id: str, guardrail_version: str = "",
                            tighten_filters=()) -> text_moderation_pb2.ModerateTextResponse:
        return await self.text.moderate(text_moderation_pb2.ModerateTextRequest(
            text=text, source=source, guardrail_id=guardrail_id, guardrail_version=guardrail_version,
            tighten_filters=tighten_filters))

    async def moderate_images(self, images: Sequence[bytes], source: int, guardrail_id: str,
                              guardrail_version: str = "", tighten_filters=()
                              ) -> image_moderation_pb2.ModerateImagesResponse:
        return await self.image.moderate(image_moderation_pb2.ModerateImagesRequest(
            images=images, source=source, guardrail_id=guardrail_id, guardrail_version=guardrail_version,
            tighten_filters=tighten_filters), caller=None)

    async def generate(self, request: image_generation_pb2.GenerateImagesRequest,
                       on_progress: OnProgress | None = None) -> image_generation_pb2.GenerateImagesResponse:
        if self.generation is None:
            raise FailedPrecondition("this gateway has no image generator; it only moderates")
        domain = to_domain(request, self.generation.registry)
        sent: list[asyncio.Future] = []
        progress = None
        if on_progress is not None:
            def progress(step: int, total: int) -> None:  # on the event loop, in step order
                sent.append(asyncio.ensure_future(on_progress(
                    image_generation_pb2.GenerationProgress(step=step, total_steps=total))))

        try:
            result = await self.generation.generator.generate(domain, on_progress=progress,
                                                              timeout=self.generation_timeout_s)
        finally:
            if sent:
                await asyncio.gather(*sent, return_exceptions=True)  # every step before the result
        return to_proto(result)

    async def image_moderation_ready(self) -> None:
        return None  # the moderator is this process: it is up whenever the gateway is

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            await close()
