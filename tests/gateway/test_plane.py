"""The data plane over a fake Backends port: messages in and out, one guardrail lookup, deadlines, drain, cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from safegen.core.types import Category, FilterVerdict, Level
from safegen.errors import DeadlineExceeded, NotFound, Unavailable
from safegen.gateway.plane import DataPlane
from safegen.generation.request import GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.policy import GuardrailRegistry
from safegen.text.moderator import TextVerdict
from safegen.v1 import common_pb2 as c, safe_generation_pb2 as pb

SAFE = FilterVerdict(Category.SEXUAL, 0.01, Level.NONE, Level.HIGH, detected=False)


class Backends:
    """The port in domain values: safe verdicts; generation waits on `release` (set by default) and records
    cancellation."""

    def __init__(self):
        self.release = asyncio.Event()
        self.release.set()
        self.generating = asyncio.Event()
        self.cancelled = False

    async def moderate_text(self, text, source, pin):
        return TextVerdict(intervened=False, filters=[SAFE], words=[], guardrail_id=pin.guardrail.id, backend="fake")

    async def moderate_images(self, images, source, pin):
        return [ImageVerdict(i, False, [SAFE], [], "PNG", 64, 64) for i in range(len(images))]

    async def generate(self, request, pin, on_progress=None):
        self.generating.set()
        if on_progress:
            await on_progress(1, 1)
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        n = request.num_images or 1
        return GenerationResult(
            images=[b"\x89PNG-fake"] * n,
            seeds=[(request.seed or 0) + i for i in range(n)],
            model_id="fake",
            backend="fake",
        )

    def generation_place(self):
        return contextlib.nullcontext()

    async def image_moderation_ready(self):
        pass

    async def aclose(self):
        pass


class CountingRegistry(GuardrailRegistry):
    def __init__(self):
        inner = GuardrailRegistry.load()
        super().__init__(inner.all(), inner.default_id)
        self.lookups = 0

    def get(self, guardrail_id="", version=""):
        self.lookups += 1
        return super().get(guardrail_id, version)


def test_generate_returns_the_response_message_after_one_guardrail_lookup():
    registry = CountingRegistry()
    plane = DataPlane(Backends(), registry)
    r = asyncio.run(plane.generate(pb.GenerateRequest(prompt="a cat", seed=7, num_images=2)))
    assert isinstance(r, pb.GenerateResponse) and r.action == c.ACTION_NONE and r.guardrail_id == "default"
    assert [i.seed for i in r.images] == [7, 8] and all(i.action == c.ACTION_NONE and i.filters for i in r.images)
    assert r.prompt_assessment.action == c.ACTION_NONE and r.prompt_assessment.filters[0].category == c.CATEGORY_SEXUAL
    assert registry.lookups == 1


def test_stream_yields_stages_progress_then_the_result():
    async def main():
        plane = DataPlane(Backends(), GuardrailRegistry.load())
        return [e async for e in plane.stream_generate(pb.StreamGenerateRequest(prompt="a cat", seed=1))]

    events = asyncio.run(main())
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "stage" and "progress" in kinds and kinds[-1] == "result"
    assert events[-1].result.images[0].seed == 1


def test_a_bad_stream_request_raises_before_any_event():
    async def main():
        plane = DataPlane(Backends(), GuardrailRegistry.load())
        events = plane.stream_generate(pb.StreamGenerateRequest(prompt="a cat", guardrail_id="nope"))
        with pytest.raises(NotFound, match="guardrail 'nope' not found"):
            await anext(events)

    asyncio.run(main())


def test_closing_the_stream_cancels_the_generation_and_ends_the_call():
    async def main():
        backends = Backends()
        backends.release.clear()
        plane = DataPlane(backends, GuardrailRegistry.load())
        events = plane.stream_generate(pb.StreamGenerateRequest(prompt="a cat"))
        first = await anext(events)
        assert first.WhichOneof("event") == "stage"
        await backends.generating.wait()
        await events.aclose()  # the caller went away
        await asyncio.wait_for(plane.wait_idle(), 5)
        return backends

    assert asyncio.run(main()).cancelled


def test_the_deadline_is_deadline_exceeded_and_cancels_the_generation():
    async def main():
        backends = Backends()
        backends.release.clear()
        plane = DataPlane(backends, GuardrailRegistry.load())
        with pytest.raises(DeadlineExceeded, match="did not finish within 0.2 s"):
            await plane.generate(pb.GenerateRequest(prompt="a cat"), timeout=0.2)
        return backends

    assert asyncio.run(main()).cancelled


def test_drain_refuses_new_calls_and_waits_for_running_ones():
    async def main():
        backends = Backends()
        backends.release.clear()
        plane = DataPlane(backends, GuardrailRegistry.load())
        running = asyncio.ensure_future(plane.generate(pb.GenerateRequest(prompt="a cat")))
        await backends.generating.wait()
        plane.begin_drain()
        with pytest.raises(Unavailable, match="shutting down"):
            await plane.apply_guardrail(None)
        idle = asyncio.ensure_future(plane.wait_idle())
        await asyncio.sleep(0.05)
        assert not idle.done()  # the running generation holds the drain
        backends.release.set()
        assert (await running).images
        await asyncio.wait_for(idle, 5)

    asyncio.run(main())
