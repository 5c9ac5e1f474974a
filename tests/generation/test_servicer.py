"""ImageGenerationService over a real in-process gRPC server (port 0), on the tiny SD pipeline."""

from __future__ import annotations

import io
import time

import grpc
import pytest
from PIL import Image

from safegen.generation.servicer import create_servicer
from support import serve
from safegen.v1 import common_pb2, image_generation_pb2 as pb, image_generation_pb2_grpc as pb_grpc


@pytest.fixture(scope="module")
def stub(tiny_sd_dir, registry):
    servicer = create_servicer(registry, {"SAFEGEN_GEN_MODEL": str(tiny_sd_dir), "SAFEGEN_GEN_MAX_QUEUE": "2"})
    with serve(servicer) as port:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.ImageGenerationServiceStub(channel)


def test_generate_images(stub, registry):
    resp = stub.GenerateImages(
        pb.GenerateImagesRequest(
            prompt="a red circle", negative_prompt="blue", width=64, height=64, num_images=2, steps=2, seed=7
        ),
        timeout=120,
    )
    assert len(resp.images) == 2 and list(resp.seeds) == [7, 8]
    assert Image.open(io.BytesIO(resp.images[0])).format == "PNG"
    assert resp.backend == "diffusers" and resp.action == common_pb2.ACTION_NONE
    # The default guardrail's safety negative prompts were merged after the caller's.
    safety = registry.get("").negative_prompts
    assert resp.negative_prompt == ", ".join(["blue", *safety])
    assert resp.negative_prompt_applied


def test_same_seed_same_images_over_grpc(stub):
    req = pb.GenerateImagesRequest(prompt="a cat", width=64, height=64, steps=2, seed=3)
    assert stub.GenerateImages(req, timeout=120).images == stub.GenerateImages(req, timeout=120).images


def test_stream_reports_each_step_then_the_result(stub):
    events = list(
        stub.StreamGenerateImages(
            pb.StreamGenerateImagesRequest(prompt="a cat", width=64, height=64, steps=3, seed=1), timeout=120
        )
    )
    progress = [(e.progress.step, e.progress.total_steps) for e in events if e.HasField("progress")]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert events[-1].HasField("result") and len(events[-1].result.images) == 1


@pytest.mark.parametrize(
    "fields, code, text",
    [
        ({"width": 100}, grpc.StatusCode.INVALID_ARGUMENT, "width=100"),
        ({"steps": 500}, grpc.StatusCode.INVALID_ARGUMENT, "steps=500"),
        ({"num_images": 9}, grpc.StatusCode.INVALID_ARGUMENT, "num_images=9"),
        ({"prompt": ""}, grpc.StatusCode.INVALID_ARGUMENT, "prompt"),
        ({"guardrail_id": "no-such-guardrail"}, grpc.StatusCode.NOT_FOUND, "no-such-guardrail"),
    ],
)
def test_errors_map_to_status_codes(stub, fields, code, text):
    req = pb.GenerateImagesRequest(**{"prompt": "a cat", "width": 64, "height": 64, "steps": 2, **fields})
    with pytest.raises(grpc.RpcError) as err:
        stub.GenerateImages(req, timeout=60)
    assert err.value.code() == code and text in err.value.details()
    stream_req = pb.StreamGenerateImagesRequest.FromString(req.SerializeToString())
    with pytest.raises(grpc.RpcError) as err:
        list(stub.StreamGenerateImages(stream_req, timeout=60))
    assert err.value.code() == code


def test_short_deadline_is_deadline_exceeded(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.GenerateImages(
            pb.GenerateImagesRequest(prompt="a cat", width=256, height=256, steps=150, seed=1), timeout=0.5
        )
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server saw the same deadline and stops at its next step; give it that step before teardown.
    time.sleep(1.0)
