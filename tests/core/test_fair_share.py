"""Fair shares at the image moderation door: cheap checks before the worker queue, an image budget per key,
the process's own gateway not charged, and the decode budget bounding concurrent decodes."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from safegen.core import auth
from safegen.core.auth import Guard, KeyStore, hash_key
from safegen.errors import ResourceExhausted
from safegen.image.limits import DecodeBudget
from safegen.image.servicer import create_servicer
from safegen.policy import GuardrailRegistry
from safegen.v1 import image_moderation_pb2 as pb, image_moderation_pb2_grpc as pb_grpc
from support import RedIsUnsafe, serve
from support.fuzz import _png


class Held(RedIsUnsafe):
    """The red double, holding the scoring thread until released."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()

    def assess(self, images, source=None):
        self.started.set()
        self.release.wait(30)
        return super().assess(images, source)


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n" + "".join(f"  - id: {k}\n    sha256: {hash_key('sk-' + k)}\n" for k in ("a", "b")))
    g = Guard(KeyStore(path, check_interval_s=0))
    monkeypatch.setattr(auth, "_process_guard", g)
    return g


def _md(value):
    return (("authorization", value),)


def test_bad_and_over_rate_requests_do_not_wait_behind_queued_work():
    detector = Held()
    servicer = create_servicer(
        GuardrailRegistry.load(),
        {"SAFEGEN_IMAGE_RATE_LIMIT": "1", "SAFEGEN_IMAGE_MAX_IMAGES": "2", "SAFEGEN_IMAGE_WORKERS": "1"},
        detector=detector,
    )
    with serve(servicer) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch, ThreadPoolExecutor(1) as pool:
        stub = pb_grpc.ImageModerationServiceStub(ch)
        busy = pool.submit(stub.ModerateImages, pb.ModerateImagesRequest(images=[_png(8, 8)]), timeout=30)
        assert detector.started.wait(10)  # the only scoring thread is taken
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            stub.ModerateImages(pb.ModerateImagesRequest(images=[b"GIF89a" + b"\0" * 10]), timeout=5)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as e:  # the bucket (2 images) has 1 left
            stub.ModerateImages(pb.ModerateImagesRequest(images=[_png(8, 8)] * 2), timeout=5)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert e.value.details().startswith("images: rate limit of 1 images/s per process exceeded")
        assert float(dict(e.value.trailing_metadata())["retry-after"]) >= 1
        assert time.monotonic() - t0 < 4  # answered while the worker was still busy, not after it
        detector.release.set()
        assert busy.result().results[0].format == "PNG"


def test_image_budget_is_per_key_and_the_process_itself_is_not_charged(keyed):
    servicer = create_servicer(
        GuardrailRegistry.load(),
        {"SAFEGEN_IMAGE_RATE_LIMIT": "0.01", "SAFEGEN_IMAGE_MAX_IMAGES": "2"},
        detector=RedIsUnsafe(),
    )
    req = pb.ModerateImagesRequest(images=[_png(8, 8)] * 2)
    with serve(servicer) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = pb_grpc.ImageModerationServiceStub(ch)
        stub.ModerateImages(req, metadata=_md("Bearer sk-a"), timeout=10)
        with pytest.raises(grpc.RpcError) as e:
            stub.ModerateImages(req, metadata=_md("Bearer sk-a"), timeout=10)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "for API key 'a'" in e.value.details()
        stub.ModerateImages(req, metadata=_md("Bearer sk-b"), timeout=10)  # b's budget is its own
        for _ in range(5):  # the gateway in this process moderating what it generated: never charged
            stub.ModerateImages(req, metadata=_md(keyed.internal_authorization), timeout=10)


def test_decode_budget_waits_then_refuses():
    budget = DecodeBudget(100, wait_s=0.2)
    budget.acquire(80)
    t0 = time.monotonic()
    with pytest.raises(ResourceExhausted, match="decoded-image budget of 0 MB per process is in use") as e:
        budget.acquire(30, "images[3]")
    assert time.monotonic() - t0 >= 0.2 and e.value.retry_after_s == 1.0
    threading.Timer(0.05, budget.release, args=(80,)).start()
    budget.acquire(30)  # waits for the release instead of failing
    assert budget.used == 30
    budget.release(30)
    budget.acquire(500)  # a single image larger than the budget is admitted alone once it is free
    assert budget.used == 100
    budget.release(500)
    assert budget.used == 0


def test_one_key_cannot_fill_the_generation_queue():
    import asyncio

    from safegen.core.auth import ApiKey, Principal, current_principal
    from safegen.generation.backends.base import GenerationBackend
    from safegen.generation.generator import ImageGenerator
    from safegen.generation.request import GenerationRequest, GenerationResult, Limits

    class Gate(GenerationBackend):
        name = "gate"

        def __init__(self):
            self.gate = threading.Event()

        @property
        def model_id(self):
            return "gate"

        @property
        def limits(self):
            return Limits()

        def generate(self, request, progress, cancel):
            self.gate.wait(10)
            return GenerationResult(images=[b""], seeds=[0], model_id="gate", backend="gate")

    def as_key(kid):
        return Principal(kid, ApiKey(kid, "0" * 64)) if kid else Principal(auth.ANONYMOUS)

    async def call(gen, kid):
        current_principal.set(as_key(kid))  # each task has its own context, as each RPC does
        return await gen.generate(GenerationRequest(prompt="a cat"))

    async def scenario():
        backend = Gate()
        gen = ImageGenerator(backend, max_queue=8)  # 9 places: a key may hold 4
        assert gen.key_share == 4
        a = [asyncio.ensure_future(call(gen, "a")) for _ in range(4)]
        await asyncio.sleep(0.05)
        with pytest.raises(ResourceExhausted, match=r"API key 'a' already has 4 generations running or waiting") as e:
            await call(gen, "a")
        assert e.value.retry_after_s == 1.0
        others = [asyncio.ensure_future(call(gen, "b")) for _ in range(4)]
        anon = asyncio.ensure_future(call(gen, None))  # no key: only the queue bounds it
        await asyncio.sleep(0.05)
        backend.gate.set()
        await asyncio.gather(*a, *others, anon)
        await call(gen, "a")  # the share is given back

    asyncio.run(scenario())


def test_the_gateway_passes_the_callers_key_to_the_generation_queue(keyed):
    # All-in-one (in process): key a's Generate calls reach the generator as the gateway's own calls,
    # yet count in a's share, so b still gets a place.
    from core.test_fuzz_rpc import NoScores
    from safegen.serve import SERVICES, build
    from safegen.generation.backends.base import GenerationBackend
    from safegen.generation.request import GenerationResult, Limits
    from safegen.generation.servicer import create_servicer as generation_servicer
    from safegen.text.backends.local import LocalClassifierBackend
    from safegen.text.servicer import create_servicer as text_servicer
    from safegen.v1 import safe_generation_pb2 as gpb, safe_generation_pb2_grpc as gpb_grpc

    gate = threading.Event()

    class Gate(GenerationBackend):
        name = "gate"
        model_id = "gate"
        limits = Limits()

        def generate(self, request, progress, cancel):
            gate.wait(20)
            return GenerationResult(images=[_png(64, 64, (20, 20, 200))], seeds=[0], model_id="gate", backend="gate")

    registry = GuardrailRegistry.load()
    servicers = build(
        SERVICES,
        registry,
        {},
        prebuilt={
            "text-moderation": text_servicer(registry, {}, backend=LocalClassifierBackend(NoScores())),
            "image-moderation": create_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe()),
            "image-generation": generation_servicer(
                registry, {"SAFEGEN_GEN_MAX_QUEUE": "3"}, backend=Gate()
            ),  # 4 places
        },
    ).servicers
    req = gpb.GenerateRequest(prompt="a blue square", width=64, height=64)
    with serve(*servicers) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch, ThreadPoolExecutor(4) as pool:
        stub = gpb_grpc.SafeGenerationServiceStub(ch)
        held = [pool.submit(stub.Generate, req, metadata=_md("Bearer sk-a"), timeout=30) for _ in range(2)]
        time.sleep(1.0)
        with pytest.raises(grpc.RpcError) as e:
            stub.Generate(req, metadata=_md("Bearer sk-a"), timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "API key 'a' already has 2" in e.value.details()
        other = pool.submit(stub.Generate, req, metadata=_md("Bearer sk-b"), timeout=30)
        time.sleep(0.5)
        gate.set()
        for f in [*held, other]:
            assert f.result().images[0].data
