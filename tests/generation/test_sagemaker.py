"""SageMaker backend against moto's server, which answers InvokeEndpoint with results the test queues."""

from __future__ import annotations

import base64
import io
import json
import urllib.request

import pytest
from PIL import Image

from safegen.core.settings import AwsSettings
from safegen.errors import Unavailable
from safegen.generation.request import CancelToken, GenerationRequest, validate
from safegen.generation.backends.aws import aws_client
from safegen.generation.backends.sagemaker import SageMakerBackend
from safegen.generation.settings import SageMakerFormat


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def client(moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _post(moto_url + "/moto-api/reset", {})
    return aws_client("sagemaker-runtime", AwsSettings(region="us-east-1", endpoint_url=moto_url))


def _post(url: str, payload: dict) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=10).read()


def _queue_results(moto_url: str, bodies: list[dict]) -> None:
    _post(
        moto_url + "/moto-api/static/sagemaker/endpoint-results",
        {
            "account_id": "123456789012",
            "region": "us-east-1",
            "results": [
                {
                    "Body": json.dumps(b),
                    "ContentType": "application/json",
                    "InvokedProductionVariant": "AllTraffic",
                    "CustomAttributes": "",
                }
                for b in bodies
            ],
        },
    )


def _jpeg_b64(colour) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(buf, format="JPEG", quality=95)
    return base64.b64encode(buf.getvalue()).decode()


def test_jumpstart_request_body_format():
    backend = SageMakerBackend(None, "sd-endpoint")
    req = validate(
        GenerationRequest(
            prompt="a red circle",
            negative_prompt="blue",
            width=512,
            height=768,
            steps=25,
            guidance_scale=7.5,
            seed=9,
            safety_negative_prompts=("nsfw",),
        ),
        backend.limits,
    )
    assert backend.request_body(req, 9) == {
        "prompt": "a red circle",
        "negative_prompt": "blue, nsfw",
        "width": 512,
        "height": 768,
        "num_images_per_prompt": 1,
        "num_inference_steps": 25,
        "guidance_scale": 7.5,
        "seed": 9,
    }


def test_stability_request_body_format():
    backend = SageMakerBackend(None, "sdxl-endpoint", SageMakerFormat.STABILITY)
    req = validate(GenerationRequest(prompt="a red circle", negative_prompt="blue", seed=3), backend.limits)
    assert backend.request_body(req, 3) == {
        "text_prompts": [{"text": "a red circle", "weight": 1.0}, {"text": "blue", "weight": -1.0}],
        "width": 1024,
        "height": 1024,
        "cfg_scale": 7.0,
        "steps": 30,
        "seed": 3,
        "samples": 1,
    }


def test_jumpstart_endpoint_through_moto(client, moto_url):
    backend = SageMakerBackend(client, "sd-endpoint", retry_base_delay=0)
    _queue_results(
        moto_url,
        [
            {"generated_images": [_jpeg_b64((250, 0, 0))], "prompt": "a red circle"},
            {"generated_images": [_jpeg_b64((0, 0, 250))], "prompt": "a red circle"},
        ],
    )
    req = validate(
        GenerationRequest(prompt="a red circle", num_images=2, seed=100, safety_negative_prompts=("nsfw", "gore")),
        backend.limits,
    )
    result = backend.generate(req, None, CancelToken())
    assert result.backend == "sagemaker" and result.seeds == [100, 101]
    assert result.negative_prompt == "nsfw, gore" and result.negative_prompt_applied
    colours = [Image.open(io.BytesIO(png)).convert("RGB").getpixel((16, 16)) for png in result.images]
    assert colours[0][0] > 200 and colours[1][2] > 200  # each image decoded, in order, as PNG
    assert all(png.startswith(b"\x89PNG") for png in result.images)


def test_stability_endpoint_filtered_output_is_a_verdict(client, moto_url):
    backend = SageMakerBackend(client, "sdxl-endpoint", SageMakerFormat.STABILITY, retry_base_delay=0)
    _queue_results(
        moto_url, [{"result": "success", "artifacts": [{"base64": "", "seed": 5, "finishReason": "CONTENT_FILTERED"}]}]
    )
    req = validate(GenerationRequest(prompt="p", seed=5), backend.limits)
    result = backend.generate(req, None, CancelToken())
    assert result.intervened and result.images == [] and "content filter" in result.intervention_reason


def test_a_body_that_is_not_json_is_unavailable(client):
    # With nothing queued moto answers with the literal body "body": not what an SD endpoint returns.
    backend = SageMakerBackend(client, "sd-endpoint", retry_base_delay=0)
    req = validate(GenerationRequest(prompt="p", seed=1), backend.limits)
    with pytest.raises(Unavailable, match="not JSON"):
        backend.generate(req, None, CancelToken())


def test_a_response_without_images_is_unavailable(client, moto_url):
    backend = SageMakerBackend(client, "sd-endpoint", retry_base_delay=0)
    _queue_results(moto_url, [{"predictions": []}])
    req = validate(GenerationRequest(prompt="p", seed=1), backend.limits)
    with pytest.raises(Unavailable, match="no generated_images"):
        backend.generate(req, None, CancelToken())
