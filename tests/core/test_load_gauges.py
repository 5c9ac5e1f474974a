"""The autoscaling gauges: safegen_queue_depth counts calls waiting (generation: for the device; image
moderation: for the scoring pool), safegen_inflight_requests counts RPCs being handled, both back to 0
after success, failure and cancellation; health checks are not counted."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from safegen.generation.backends.base import GenerationBackend
from safegen.generation.generator import ImageGenerator
from safegen.generation.request import GenerationRequest, GenerationResult, Limits
from safegen.image.servicer import create_servicer
from safegen.policy import GuardrailRegistry
from safegen.training import synthetic_images as synthetic
from safegen.v1 import image_moderation_pb2, image_moderation_pb2_grpc
from support import RedIsUnsafe, serve


def gauge(name: str, service: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": service})


class Gate(GenerationBackend):
    """A backend that generates only when the test opens the gate."""

    name = "gate"

    def __init__(self):
        self.gate = threading.Event()

    @property
    def model_id(self) -> str:
        return "gate"

    @property
    def limits(self) -> Limits:
        return Limits()

    def generate(self, request, progress, cancel) -> GenerationResult:
        while not self.gate.wait(0.01):
            if cancel.cancelled:
                raise asyncio.CancelledError()
        return GenerationResult(images=[b""], seeds=[0], model_id="gate", backend="gate")


def test_generation_queue_depth_counts_calls_waiting_for_the_device():
    async def scenario():
        backend = Gate()
        gen = ImageGenerator(backend, max_queue=8)
        start = gauge("safegen_queue_depth", "image-generation")
        calls = [asyncio.ensure_future(gen.generate(GenerationRequest(prompt="a cat"))) for _ in range(4)]
        await asyncio.sleep(0.05)
        assert gauge("safegen_queue_depth", "image-generation") == start + 3  # 1 running, 3 waiting
        calls[3].cancel()  # a caller that gives up while waiting leaves the queue
        await asyncio.sleep(0.01)
        assert gauge("safegen_queue_depth", "image-generation") == start + 2
        with pytest.raises(Exception):  # the deadline passes while waiting: no longer waiting either
            await gen.generate(GenerationRequest(prompt="a dog"), timeout=0.01)
        assert gauge("safegen_queue_depth", "image-generation") == start + 2
        backend.gate.set()
        await asyncio.gather(*calls[:3])
        assert gauge("safegen_queue_depth", "image-generation") == start

    asyncio.run(scenario())


class SlowRed(RedIsUnsafe):
    """The red double, held until the test releases it."""

    def __init__(self):
        self.release = threading.Event()

    def assess(self, images, source=None):
        self.release.wait(30)
        return super().assess(images, source)


def test_image_moderation_inflight_and_pool_queue_over_real_rpcs():
    detector = SlowRed()
    servicer = create_servicer(GuardrailRegistry.load(), {"SAFEGEN_IMAGE_WORKERS": "1"}, detector=detector)
    image = synthetic.encode(synthetic.landscape(1, 64))
    base_q = gauge("safegen_queue_depth", "image-moderation")
    base_i = gauge("safegen_inflight_requests", "image-moderation")
    with serve(servicer) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = image_moderation_pb2_grpc.ImageModerationServiceStub(channel)
        with ThreadPoolExecutor(3) as pool:
            futures = [
                pool.submit(stub.ModerateImages, image_moderation_pb2.ModerateImagesRequest(images=[image]), timeout=30)
                for _ in range(3)
            ]
            deadline = time.monotonic() + 10
            while gauge("safegen_inflight_requests", "image-moderation") < base_i + 3:
                assert time.monotonic() < deadline, "three RPCs never showed as in flight"
                time.sleep(0.01)
            assert gauge("safegen_queue_depth", "image-moderation") == base_q + 2  # one worker, two waiting
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert gauge("safegen_inflight_requests", "image-moderation") == base_i + 3
            detector.release.set()
            assert all(len(f.result().results) == 1 for f in futures)
        bad = stub.ModerateImages.future(
            image_moderation_pb2.ModerateImagesRequest(images=[b"not an image"]), timeout=10
        )
        with pytest.raises(grpc.RpcError):
            bad.result()
    assert gauge("safegen_inflight_requests", "image-moderation") == base_i
    assert gauge("safegen_queue_depth", "image-moderation") == base_q
    assert REGISTRY.get_sample_value("safegen_inflight_requests", {"service": "grpc.health.v1.Health"}) is None
