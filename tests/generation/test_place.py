"""ImageGenerator's one admission: a place held across a caller's own work, generate running on it without a
second count, and the place given back on every way out (success, error, cancellation)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import REGISTRY

from safegen.core import auth
from safegen.core.auth import ApiKey, Principal
from safegen.errors import InvalidArgument, ResourceExhausted, Unavailable
from safegen.generation.generator import ImageGenerator
from safegen.generation.request import GenerationRequest, GenerationResult, Limits


def waiting() -> float:
    return REGISTRY.get_sample_value("safegen_queue_depth", {"service": "image-generation"})


class Gate:
    """A backend that runs one call at a time and finishes it when the test opens the gate (or fails it)."""

    name = "gate"
    model_id = "gate-model"
    max_concurrency = 1
    limits = Limits(default_width=64, default_height=64, default_steps=1)

    def __init__(self, fail: bool = False):
        self.gate = threading.Event()
        self.fail = fail
        self.calls = 0

    def generate(self, request, progress, cancel):
        self.calls += 1
        while not self.gate.wait(0.01):
            cancel.check()
        if self.fail:
            raise Unavailable("the gate backend failed")
        return GenerationResult(images=[b"x"], seeds=[0], model_id=self.model_id, backend=self.name)

    def close(self):
        pass


async def until(condition, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {what}")


def request(**kw) -> GenerationRequest:
    return GenerationRequest(prompt="a cat", **kw)


def test_generate_on_a_held_place_counts_the_request_once():
    async def main():
        backend = Gate()
        gen = ImageGenerator(backend, max_queue=1)  # 2 places
        start = waiting()
        async with gen.place() as first, gen.place() as second:
            assert gen.admitted == 2 and waiting() == start  # holding a place is not waiting for the device
            one = asyncio.ensure_future(gen.generate(request(), place=first))
            await until(lambda: backend.calls == 1 or one.done(), "started the first call")
            two = asyncio.ensure_future(gen.generate(request(), place=second))  # no third place: it must not ask
            await until(lambda: waiting() == start + 1 or two.done(), "queued the second call")
            assert gen.admitted == 2 and waiting() == start + 1  # one running, one waiting: each counted once
            backend.gate.set()
            await asyncio.gather(one, two)
            await gen.generate(request(), place=first)  # a second call (a regeneration) on the same place
            assert gen.admitted == 2 and backend.calls == 3 and waiting() == start
        assert gen.admitted == 0 and waiting() == start

    asyncio.run(main())


def test_a_held_place_counts_against_the_limit_and_the_key_share():
    async def main():
        gen = ImageGenerator(Gate(), max_queue=1)  # 2 places, a key's share is 1
        auth.current_principal.set(Principal("key:a", ApiKey("a", "x")))
        async with gen.place():
            assert gen.admitted_by_key == {"a": 1}
            with pytest.raises(ResourceExhausted, match="API key 'a' already has 1 generations") as share:
                await gen.generate(request())
            assert share.value.retry_after_s == 1.0
            auth.current_principal.set(auth.ANONYMOUS_PRINCIPAL)  # no key: only the limit applies
            async with gen.place():
                with pytest.raises(
                    ResourceExhausted,
                    match="image generation is busy: the gate backend running gate-model has 1 running and 1 waiting",
                ):
                    async with gen.place():
                        pass
                assert gen.admitted == 2
        assert gen.admitted == 0 and gen.admitted_by_key == {}

    asyncio.run(main())


@pytest.mark.parametrize("way_out", ["success", "invalid request", "backend error", "error in the caller's work"])
def test_the_place_is_given_back_on_every_way_out(way_out):
    async def main():
        backend = Gate(fail=way_out == "backend error")
        backend.gate.set()
        gen = ImageGenerator(backend, max_queue=0)
        start = waiting()
        try:
            async with gen.place() as place:
                if way_out == "error in the caller's work":  # e.g. the gateway's prompt moderation failed
                    raise RuntimeError("moderation failed")
                await gen.generate(request(width=1_000_000) if way_out == "invalid request" else request(), place=place)
        except (RuntimeError, InvalidArgument, Unavailable):
            assert way_out != "success"
        assert gen.admitted == 0 and waiting() == start
        backend.fail = False
        assert (await gen.generate(request())).images  # the one place is free again

    asyncio.run(main())


@pytest.mark.parametrize("where", ["holding the place", "waiting for the device", "generating"])
def test_a_cancelled_caller_gives_its_place_back(where):
    async def main():
        backend = Gate()
        gen = ImageGenerator(backend, max_queue=2)
        start = waiting()
        running = asyncio.ensure_future(gen.generate(request()))  # takes the device
        in_work = asyncio.Event()

        async def caller():
            async with gen.place() as place:
                in_work.set()
                if where == "holding the place":
                    await asyncio.sleep(3600)  # the caller's own work (the gateway: prompt moderation)
                await gen.generate(request(), place=place)

        if where == "generating":
            backend.gate.set()
            await running
            backend.gate.clear()
        task = asyncio.ensure_future(caller())
        await in_work.wait()
        for _ in range(100):  # until it sits where the test cancels it
            await asyncio.sleep(0.01)
            if where == "holding the place" or (where == "waiting for the device" and waiting() == start + 1):
                break
            if where == "generating" and backend.calls == 2:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gen.admitted == (0 if where == "generating" else 1)  # only `running` left, if it still runs
        assert waiting() == start
        backend.gate.set()
        await running
        assert gen.admitted == 0

    asyncio.run(main())


def test_a_given_back_place_does_not_admit_and_another_generators_place_is_refused():
    async def main():
        backend = Gate()
        backend.gate.set()
        gen, other = ImageGenerator(backend, max_queue=0), ImageGenerator(Gate(), max_queue=0)
        async with gen.place() as old:
            pass
        assert not old.held
        await gen.generate(request(), place=old)  # admitted on its own, and given back
        assert gen.admitted == 0
        async with other.place() as foreign:
            with pytest.raises(ValueError, match="another generator's queue"):
                await gen.generate(request(), place=foreign)
        assert gen.admitted == 0 and other.admitted == 0

    asyncio.run(main())
