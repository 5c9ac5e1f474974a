"""In-process adapters of the `Backends` port: the all-in-one gateway calls this process's moderators and generator directly.

No loopback channel, no message and no second guardrail lookup: the flow's pinned guardrail object goes
to TextModerator.moderate_with and ImageModerator.admit/judge, the generator gets a GenerationRequest,
and a generated image goes from the generator to the image moderator and into the caller's response as
the same bytes. The calls run where the services run them (text in a worker thread, images on the image
service's bounded pool and its queue gauge, generation through ImageGenerator's queue), so limits and
concurrency are the same for the gateway and for public callers. Images the gateway moderates are not
charged to any caller's image budget (the request that made them already paid), as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from typing import TYPE_CHECKING, AsyncIterator, Awaitable, Callable, Sequence

from safegen.core.auth import current_principal
from safegen.core.types import Source
from safegen.errors import FailedPrecondition, ResourceExhausted
from safegen.gateway.ports import OnProgress
from safegen.gateway.values import Pin
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.text.moderator import TextVerdict, validate_text

if TYPE_CHECKING:
    from safegen.generation.generator import ImageGenerator
    from safegen.generation.servicer import ImageGenerationServicer
    from safegen.image.servicer import ImageModerationServicer
    from safegen.text.servicer import TextModerationServicer


class GenerationPlaces:
    """The generator's admission, checked by the gateway before a request's prompt is moderated.

    In one process the gateway is the generator's only caller (the public port does not serve it), so
    counting the requests that hold a place here (one count per generator, see places_for), from before
    prompt moderation until they are done, bounds what reaches the generator: the generator's own check
    then never refuses one of them. Same
    limits and messages as ImageGenerator.generate: backend.max_concurrency + max_queue places in all,
    at most key_share per API key (retry-after 1 s), so the fair share and the RESOURCE_EXHAUSTED a caller
    sees do not change; what changes is that a refused request costs a counter instead of a moderation."""

    def __init__(self, generator: ImageGenerator):
        self.generator = generator
        self.held = 0
        self.by_key: dict[str, int] = {}

    @property
    def limit(self) -> int:
        return self.generator.backend.max_concurrency + self.generator.max_queue

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        g = self.generator
        if self.held >= self.limit:
            raise ResourceExhausted(
                f"image generation is busy: the {g.backend.name} backend running {g.backend.model_id} "
                f"has {g.backend.max_concurrency} running and {g.max_queue} waiting; retry later"
            )
        key = current_principal.get().share_id  # the API key this call is for (None without keys)
        if key is not None and self.by_key.get(key, 0) >= g.key_share:
            raise ResourceExhausted(
                f"API key {key!r} already has {g.key_share} generations running or waiting, its share of this "
                f"backend's {self.limit} places; retry when one finishes",
                retry_after_s=1.0,
            )
        self.held += 1
        if key is not None:
            self.by_key[key] = self.by_key.get(key, 0) + 1
        try:
            yield
        finally:
            self.held -= 1
            if key is not None:
                left = self.by_key.get(key, 1) - 1
                if left > 0:
                    self.by_key[key] = left
                else:
                    self.by_key.pop(key, None)


#: One count per generator, however many adapters (data planes) share it.
_PLACES: weakref.WeakKeyDictionary[ImageGenerator, GenerationPlaces] = weakref.WeakKeyDictionary()


def places_for(generator: ImageGenerator) -> GenerationPlaces:
    places = _PLACES.get(generator)
    if places is None:
        places = _PLACES[generator] = GenerationPlaces(generator)
    return places


@contextlib.asynccontextmanager
async def _no_place() -> AsyncIterator[None]:
    yield


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
        # What ImageModerationServicer.moderate does, minus the messages and the guardrail lookup: the cheap
        # checks here on the event loop, scoring on the service's bounded pool, counted in its queue gauge.
        from safegen.image.servicer import _WAITING

        moderator = self.image.moderator
        valid = moderator.admit(list(images), pin.guardrail, None)
        waiting = threading.Lock()  # whoever takes it first (the pool thread, or a cancellation) ends the wait

        def score() -> list[ImageVerdict]:
            if waiting.acquire(blocking=False):
                _WAITING.dec()
            return moderator.judge(valid, source, pin.guardrail)

        _WAITING.inc()
        try:
            return await asyncio.get_running_loop().run_in_executor(self.image._pool, score)
        finally:
            if waiting.acquire(blocking=False):  # cancelled before a thread took it
                _WAITING.dec()

    def _generator(self) -> ImageGenerator:
        if self.generation is None:
            raise FailedPrecondition("this gateway has no image generator; it only moderates")
        return self.generation.generator

    def generation_place(self) -> contextlib.AbstractAsyncContextManager[None]:
        # Without a generator, generate() says so (FAILED_PRECONDITION) where it always did: after the prompt.
        return places_for(self.generation.generator).hold() if self.generation is not None else _no_place()

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
            return await generator.generate(request, on_progress=progress, timeout=self.generation_timeout_s)
        finally:
            if sent:
                await asyncio.gather(*sent, return_exceptions=True)  # every step before the result

    async def image_moderation_ready(self) -> None:
        return None  # the moderator is this process: it is up whenever the gateway is

    async def aclose(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            await close()
