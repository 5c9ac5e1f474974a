"""Bedrock backend against botocore's Stubber, which checks every request against the real service model."""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from PIL import Image

from safegen.core.settings import SettingsError
from safegen.errors import FailedPrecondition, Unavailable
from safegen.generation.backends.bedrock import BedrockBackend, nearest_aspect_ratio
from safegen.generation.request import CancelToken, GenerationRequest, validate

SAFETY = ("nsfw, nudity", "gore")


def _png_b64(colour=(200, 10, 10), size=(16, 16), fmt="PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _body(payload: dict) -> dict:
    raw = json.dumps(payload).encode()
    return {"body": StreamingBody(io.BytesIO(raw), len(raw)), "contentType": "application/json"}


@pytest.fixture
def client():
    c = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sent: list[dict] = []
    # Record what the backend sends (Stubber validates the shapes; this keeps the values for asserts).
    c.meta.events.register(
        "before-parameter-build.bedrock-runtime.InvokeModel", lambda params, **_: sent.append(dict(params))
    )
    c.sent = sent
    with Stubber(c) as stub:
        c.stub = stub
        yield c
        stub.assert_no_pending_responses()


def _request(backend, **kw):
    return validate(GenerationRequest(prompt="a red circle", safety_negative_prompts=SAFETY, **kw), backend.limits)


def test_stability_request_and_response(client):
    backend = BedrockBackend(
        client,
        "stability.sd3-large-v1:0",
        guardrail_id="gr-123",
        guardrail_version="2",
        trace="ENABLED",
        retry_base_delay=0,
    )
    client.stub.add_response("invoke_model", _body({"seeds": [7], "finish_reasons": [None], "images": [_png_b64()]}))
    result = backend.generate(
        _request(backend, negative_prompt="blue", width=1024, height=576, seed=7), None, CancelToken()
    )
    sent = client.sent[0]
    assert sent["modelId"] == "stability.sd3-large-v1:0"
    assert (sent["guardrailIdentifier"], sent["guardrailVersion"], sent["trace"]) == ("gr-123", "2", "ENABLED")
    body = json.loads(sent["body"])
    assert body == {
        "prompt": "a red circle",
        "negative_prompt": "blue, nsfw, nudity, gore",
        "mode": "text-to-image",
        "aspect_ratio": "16:9",
        "seed": 7,
        "output_format": "png",
    }
    assert result.seeds == [7] and len(result.images) == 1
    assert Image.open(io.BytesIO(result.images[0])).getpixel((0, 0)) == (200, 10, 10)
    assert result.negative_prompt == "blue, nsfw, nudity, gore" and result.negative_prompt_applied
    assert not result.intervened
    assert any("aspect ratio 16:9" in n for n in result.notes)


def test_guardrail_options_are_left_out_when_not_configured(client):
    backend = BedrockBackend(client, "stability.sd3-large-v1:0", retry_base_delay=0)
    client.stub.add_response("invoke_model", _body({"seeds": [1], "finish_reasons": [None], "images": [_png_b64()]}))
    backend.generate(_request(backend, seed=1), None, CancelToken())
    assert not {"guardrailIdentifier", "guardrailVersion", "trace"} & set(client.sent[0])


def test_titan_request_one_call_per_image_with_consecutive_seeds(client):
    backend = BedrockBackend(client, "amazon.titan-image-generator-v2:0", retry_base_delay=0)
    for seed in (41, 42):
        client.stub.add_response("invoke_model", _body({"images": [_png_b64(fmt="JPEG")], "error": None}))
    result = backend.generate(
        _request(backend, negative_prompt="blue", width=512, height=768, num_images=2, guidance_scale=6.5, seed=41),
        None,
        CancelToken(),
    )
    bodies = [json.loads(s["body"]) for s in client.sent]
    assert bodies[0] == {
        "taskType": "TEXT_IMAGE",
        "textToImageParams": {"text": "a red circle", "negativeText": "blue, nsfw, nudity, gore"},
        "imageGenerationConfig": {
            "numberOfImages": 1,
            "width": 512,
            "height": 768,
            "cfgScale": 6.5,
            "seed": 41,
            "quality": "standard",
        },
    }
    assert bodies[1]["imageGenerationConfig"]["seed"] == 42
    assert result.seeds == [41, 42]
    # JPEG from the model comes back as PNG, like every other backend's output.
    assert all(img.startswith(b"\x89PNG") for img in result.images)


def test_titan_negative_prompt_is_cut_to_whole_terms_with_a_note(client):
    backend = BedrockBackend(client, "amazon.titan-image-generator-v2:0", retry_base_delay=0)
    client.stub.add_response("invoke_model", _body({"images": [_png_b64()], "error": None}))
    long_safety = tuple(f"unsafe term number {i}" for i in range(40))
    req = validate(
        GenerationRequest(prompt="p", negative_prompt="blue", safety_negative_prompts=long_safety, seed=1),
        backend.limits,
    )
    result = backend.generate(req, None, CancelToken())
    negative = json.loads(client.sent[0]["body"])["textToImageParams"]["negativeText"]
    assert len(negative) <= 512 and negative.startswith("blue, unsafe term number 0")
    assert negative.split(", ")[-1].startswith("unsafe term number")  # no half terms
    assert any("cut to 512" in n for n in result.notes)


def test_bedrock_guardrail_intervention_is_a_verdict(client):
    backend = BedrockBackend(
        client,
        "stability.sd3-large-v1:0",
        guardrail_id="gr-1",
        guardrail_version="1",
        trace="ENABLED",
        retry_base_delay=0,
    )
    client.stub.add_response(
        "invoke_model",
        _body(
            {
                "amazon-bedrock-guardrailAction": "INTERVENED",
                "amazon-bedrock-trace": {
                    "guardrail": {
                        "input": {
                            "gr-1": {
                                "contentPolicy": {
                                    "filters": [{"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]
                                }
                            }
                        }
                    }
                },
            }
        ),
    )
    result = backend.generate(_request(backend, seed=3), None, CancelToken())
    assert result.intervened and result.images == []
    assert "guardrail" in result.intervention_reason and "VIOLENCE" in result.intervention_reason


def test_stability_filter_finish_reason_is_a_verdict(client):
    backend = BedrockBackend(client, "stability.sd3-large-v1:0", retry_base_delay=0)
    client.stub.add_response(
        "invoke_model", _body({"seeds": [3], "finish_reasons": ["Filter reason: prompt"], "images": []})
    )
    result = backend.generate(_request(backend, seed=3), None, CancelToken())
    assert result.intervened and "Filter reason: prompt" in result.intervention_reason


def test_titan_content_filter_refusal_is_a_verdict(client):
    backend = BedrockBackend(client, "amazon.titan-image-generator-v2:0", retry_base_delay=0)
    client.stub.add_client_error(
        "invoke_model",
        service_error_code="ValidationException",
        http_status_code=400,
        service_message="This request has been blocked by our content filters.",
    )
    result = backend.generate(_request(backend, seed=3), None, CancelToken())
    assert result.intervened and "content filters" in result.intervention_reason


def test_throttling_is_retried_then_succeeds(client):
    backend = BedrockBackend(client, "stability.sd3-large-v1:0", retry_attempts=4, retry_base_delay=0)
    for _ in range(3):
        client.stub.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)
    client.stub.add_response("invoke_model", _body({"seeds": [5], "finish_reasons": [None], "images": [_png_b64()]}))
    result = backend.generate(_request(backend, seed=5), None, CancelToken())
    assert len(result.images) == 1 and len(client.sent) == 4


def test_throttling_beyond_the_attempts_is_unavailable(client):
    backend = BedrockBackend(client, "stability.sd3-large-v1:0", retry_attempts=2, retry_base_delay=0)
    for _ in range(2):
        client.stub.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)
    with pytest.raises(Unavailable, match="ThrottlingException"):
        backend.generate(_request(backend, seed=5), None, CancelToken())


def test_access_denied_is_failed_precondition(client):
    backend = BedrockBackend(client, "stability.sd3-large-v1:0", retry_base_delay=0)
    client.stub.add_client_error(
        "invoke_model",
        service_error_code="AccessDeniedException",
        http_status_code=403,
        service_message="not authorized to perform bedrock:InvokeModel",
    )
    with pytest.raises(FailedPrecondition, match="bedrock:InvokeModel"):
        backend.generate(_request(backend, seed=5), None, CancelToken())


def test_unsupported_model_is_a_settings_error(client):
    with pytest.raises(SettingsError, match="not supported"):
        BedrockBackend(client, "anthropic.claude-v2")


@pytest.mark.parametrize(
    "size, ratio",
    [((1024, 1024), "1:1"), ((1536, 640), "21:9"), ((640, 1536), "9:21"), ((832, 1024), "4:5"), ((1216, 832), "3:2")],
)
def test_nearest_aspect_ratio(size, ratio):
    assert nearest_aspect_ratio(*size) == ratio
