"""The image generation domain API the servicer (and the all-in-one gateway) call: validate, admit, run.

Backends are blocking; this runs them in worker threads, bounds concurrency and the waiting queue
(RESOURCE_EXHAUSTED beyond it; one admission, which a caller can also hold across work of its own
before generating: ImageGenerator.place), and turns task cancellation into the backend's cancel flag so a
call nobody waits for any more stops at the next denoising step.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from safegen.core.auth import current_principal
from safegen.core.metrics import INFLIGHT, QUEUE_DEPTH
from safegen.errors import DeadlineExceeded, ResourceExhausted
from safegen.generation.backends.base import GenerationBackend
from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, validate

#: safegen_queue_depth{service="image-generation"}: admitted calls waiting for a device slot.
_WAITING = QUEUE_DEPTH.labels("image-generation")
INFLIGHT.labels("image-generation")  # exported as 0 from the start: an autoscaler needs a value per pod

#: Called (on the event loop) with (step, total_steps).
AsyncProgressFn = Callable[[int, int], None]


class ImageGenerator:
    """Validates requests against the backend's limits and runs them with bounded concurrency."""

    def __init__(self, backend: GenerationBackend, max_queue: int = 8):
        self.backend = backend
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(backend.max_concurrency)
        self._admitted = 0  # running + waiting
        self._by_key: dict[str, int] = {}  # API key id -> its calls running + waiting

    @property
    def key_share(self) -> int:
        """Running + waiting places one API key may hold: half of them, so no key can fill the queue."""
        return max(1, (self.backend.max_concurrency + self.max_queue) // 2)

    @property
    def limit(self) -> int:
        """Places in all: running + waiting (backend.max_concurrency + max_queue)."""
        return self.backend.max_concurrency + self.max_queue

    @property
    def admitted(self) -> int:
        """Places held now: admitted requests running, waiting for the device, or (gateway) being moderated."""
        return self._admitted

    @property
    def admitted_by_key(self) -> dict[str, int]:
        """Places held now per API key (a copy; keys without a place are absent)."""
        return dict(self._by_key)

    def place(self) -> Place:
        """A place in this generator's queue for one request, as an async context manager:
        `async with generator.place() as place:` admits on entry (ResourceExhausted when the queue or the
        caller's key share is full) and gives the place back on exit, whatever ends the block (an error or a
        cancellation included). Pass it to generate(place=...) so the calls made inside are not admitted
        again: the all-in-one gateway holds one from before a prompt is moderated until its images are done."""
        return Place(self)

    def _admit(self, place: Place) -> None:
        limit = self.limit
        if self._admitted >= limit:
            # Named by model as well as backend kind: "diffusers" alone hid that the bundled model runs.
            raise ResourceExhausted(
                f"image generation is busy: the {self.backend.name} backend running {self.backend.model_id} "
                f"has {self.backend.max_concurrency} running and {self.max_queue} waiting; retry later"
            )
        key = current_principal.get().share_id  # the API key this call is for (None without keys)
        if key is not None and self._by_key.get(key, 0) >= self.key_share:
            raise ResourceExhausted(
                f"API key {key!r} already has {self.key_share} generations running or waiting, its share of this "
                f"backend's {limit} places; retry when one finishes",
                retry_after_s=1.0,
            )
        self._admitted += 1
        if key is not None:
            self._by_key[key] = self._by_key.get(key, 0) + 1
        place.key, place.held = key, True

    def _release(self, place: Place) -> None:
        if not place.held:
            return
        place.held = False
        self._admitted -= 1
        key = place.key
        if key is not None:
            left = self._by_key.get(key, 1) - 1
            if left > 0:
                self._by_key[key] = left
            else:
                self._by_key.pop(key, None)

    async def generate(
        self,
        request: GenerationRequest,
        *,
        on_progress: AsyncProgressFn | None = None,
        timeout: float | None = None,
        place: Place | None = None,
    ) -> GenerationResult:
        """Generates images for `request`. `timeout` (seconds) bounds queueing plus generation.

        `place`: a place the caller holds (see place()); the call then runs on it instead of taking a
        second one. A place already given back counts as none: the call is admitted on its own.

        Raises InvalidArgument (bad request), ResourceExhausted (queue full), DeadlineExceeded,
        Cancelled, or the backend's Unavailable/FailedPrecondition.
        """
        req = validate(request, self.backend.limits)
        if place is not None and place.held:
            if place.generator is not self:
                raise ValueError("generate() was given a place in another generator's queue")
            return await self._wait_and_run(req, on_progress, timeout)
        async with self.place():
            return await self._wait_and_run(req, on_progress, timeout)

    async def _wait_and_run(
        self, req: GenerationRequest, on_progress: AsyncProgressFn | None, timeout: float | None
    ) -> GenerationResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        _WAITING.inc()
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded("the deadline passed while waiting for the generation backend") from None
        finally:
            _WAITING.dec()  # running now, or given up: either way no longer waiting
        try:
            return await self._run(req, deadline, on_progress)
        finally:
            self._slots.release()

    async def _run(self, req: GenerationRequest, deadline: float | None, on_progress) -> GenerationResult:
        loop = asyncio.get_running_loop()
        token = CancelToken(deadline)
        progress = None
        if on_progress is not None:

            def progress(step: int, total: int) -> None:
                loop.call_soon_threadsafe(on_progress, step, total)

        work = asyncio.ensure_future(asyncio.to_thread(self.backend.generate, req, progress, token))
        try:
            # shield: if this task is cancelled, the thread keeps running until it sees the flag.
            result = await asyncio.shield(work)
        except asyncio.CancelledError:
            token.cancel()
            # Hold the device slot until the pipeline has actually stopped, so the next call does not
            # start on a busy device.
            try:
                await work
            except Exception:
                pass
            raise
        return result

    def close(self) -> None:
        self.backend.close()


class Place:
    """One request's place in an ImageGenerator's queue (see ImageGenerator.place): held from entering the
    `async with` until leaving it; counted once in the generator's limit and in its API key's share."""

    def __init__(self, generator: ImageGenerator):
        self.generator = generator
        self.key: str | None = None  # the API key it counts against, set on admission
        self.held = False

    async def __aenter__(self) -> Place:
        # No await before or inside the admission: nothing can cancel between taking the place and the
        # `async with` owning it, so __aexit__ always gives it back.
        if self.held:
            raise RuntimeError("a generation place is entered once")
        self.generator._admit(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.generator._release(self)
