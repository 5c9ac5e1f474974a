"""In-process adapters of the `Backends` port: the all-in-one gateway calls this process's moderators and generator directly.

No loopback channel, no message and no second guardrail lookup: the flow's pinned guardrail object goes
to TextModerator.moderate_with and ImageModerator.admit/judge, the generator gets a GenerationRequest,
and a generated image goes from the generator to the image moderator and into the caller's response as
the same bytes. The calls run where the services run them (text in a worker thread, images on the image
service's bounded pool and its queue gauge: ImageModerationServicer.score; generation through
ImageGenerator's one admission, a place taken before the prompt is moderated and held until the request
is done: generation_place), so limits and concurrency are the same for the gateway and for public callers. Images the gateway moderates are not
charged to any caller's image budget (the request that made them already paid), as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import TYPE_CHECKING, AsyncIterator, Awaitable, Callable, Sequence

from safegen.core.types import Source
from safegen.errors import FailedPrecondition
from safegen.gateway.ports import OnProgress
from safegen.gateway.values import Pin
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.text.moderator import TextVerdict, validate_text

if TYPE_CHECKING:
    from safegen.generation.generator import ImageGenerator, Place
    from safegen.generation.servicer import ImageGenerationServicer
    from safegen.image.servicer import ImageModerationServicer
    from safegen.text.servicer import TextModerationServicer


#: The generation place the current request holds (generation_place), for generate to run on: a context
#: variable because the port's generate does not carry it; per request, as each runs in its own task.
_HELD: contextvars.ContextVar[Place | None] = contextvars.ContextVar("safegen_generation_place", default=None)


class InProcessBackends:
    """The port over the text and image moderation servicers' moderators and the generation servicer's
    generator (None: a moderation-only wiring); `closers` are awaited by aclose."""

    def __init__(
        self,
        text: TextModerationServicer,
        image: ImageModerationServicer,
        generation: ImageGenerationServicer | None = None,
        *,
        generation_timeout_s: float = 600.0,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ):
        self.text = text
        self.image = image
        self.generation = generation
        self.generation_timeout_s = generation_timeout_s
        self._closers = list(closers)

    async def moderate_text(self, text: str, source: Source, pin: Pin) -> TextVerdict:
        validate_text(text)
        return await asyncio.to_thread(self.text.moderator.moderate_with, pin.guardrail, text, source)

    async def moderate_images(self, images: Sequence[bytes], source: Source, pin: Pin) -> list[ImageVerdict]:
        # What ModerateImages does minus the messages and the guardrail lookup: the service's own checks,
        # pool and queue gauge; caller None: not charged to an image budget (the request that made them paid).
        return await self.image.score(images, source, pin.guardrail, None)

    def _generator(self) -> ImageGenerator:
        if self.generation is None:
            raise FailedPrecondition("this gateway has no image generator; it only moderates")
        return self.generation.generator

    @contextlib.asynccontextmanager
    async def generation_place(self) -> AsyncIterator[None]:
        # The generator's own admission (ImageGenerator.place), held until the request is done; generate runs
        # on it. Without a generator, generate() says so (FAILED_PRECONDITION) where it always did: after the
        # prompt.
        if self.generation is None:
            yield
            return
        async with self.generation.generator.place() as place:
            token = _HELD.set(place)
            try:
                yield
            finally:
                _HELD.reset(token)

    async def generate(
        self, request: GenerationRequest, pin: Pin, on_progress: OnProgress | None = None
    ) -> GenerationResult:
        generator = self._generator()
        sent: list[asyncio.Future[None]] = []
        progress = None
        if on_progress is not None:

            def progress(step: int, total: int) -> None:  # on the event loop, in step order
                sent.append(asyncio.ensure_future(on_progress(step, total)))

        try:
            return await generator.generate(
                request, on_progress=progress, timeout=self.generation_timeout_s, place=_HELD.get()
            )
        finally:
            if sent:
                await asyncio.gather(*sent, return_exceptions=True)  # every step before the result

    async def image_moderation_ready(self) -> None:
        return None  # the moderator is this process: it is up whenever the gateway is

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            await close()
