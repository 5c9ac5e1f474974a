"""Regression tests for inputs that used to crash (INTERNAL / HTTP 500) or pass silently: each gets a precise status."""

from __future__ import annotations

import grpc
import pytest

from safegen.policy import GuardrailRegistry
from safegen.text.backends.local import LocalClassifierBackend
from safegen.text.servicer import create_servicer as text_servicer
from safegen.image.servicer import create_servicer as image_servicer
from safegen.gateway.plane import DataPlane
from safegen.gateway.servicer import GuardrailServicer
from safegen.image.moderator import ImageVerdict
from safegen.text.moderator import TextVerdict
from safegen.v1 import (
    common_pb2,
    guardrail_pb2 as gr,
    guardrail_pb2_grpc,
    image_moderation_pb2,
    image_moderation_pb2_grpc,
    text_moderation_pb2,
    text_moderation_pb2_grpc,
)
from support import RedIsUnsafe, serve
from web.fakes import PNG_1x1, FakeGuardrails, FakeSafeGeneration
from web.stack import run_stack


class NoScores:
    """Classifier double: scores nothing, records what it was asked (the plain reading included)."""

    name = "none"

    def __init__(self):
        self.texts = []

    def score(self, texts):
        self.texts.extend(texts)
        return [{} for _ in texts]


@pytest.fixture(scope="module")
def registry():
    return GuardrailRegistry.load()


@pytest.mark.parametrize("text", ["* * *", "* * *\n\n## Next section", "*  *  * and more"])
def test_markdown_rule_is_moderated_not_internal(registry, text):
    classifier = NoScores()
    with serve(text_servicer(registry, {}, backend=LocalClassifierBackend(classifier))) as port:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            r = text_moderation_pb2_grpc.TextModerationServiceStub(ch).ModerateText(
                text_moderation_pb2.ModerateTextRequest(text=text), timeout=30
            )
    assert r.action == common_pb2.ACTION_NONE and classifier.texts[0] == text


@pytest.mark.parametrize("source", [3, 99, -5])
def test_unknown_source_is_invalid_argument_for_text_and_images(registry, source):
    with serve(
        text_servicer(registry, {}, backend=LocalClassifierBackend(NoScores())),
        image_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe()),
    ) as port:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            calls = [
                lambda: text_moderation_pb2_grpc.TextModerationServiceStub(ch).ModerateText(
                    text_moderation_pb2.ModerateTextRequest(text="a cat", source=source), timeout=30
                ),
                lambda: image_moderation_pb2_grpc.ImageModerationServiceStub(ch).ModerateImages(
                    image_moderation_pb2.ModerateImagesRequest(images=[PNG_1x1], source=source), timeout=30
                ),
            ]
            for call in calls:
                with pytest.raises(grpc.RpcError) as e:
                    call()
                assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert e.value.details() == (
                    f"source: {source} is not a valid safegen.v1.Source; allowed values: SOURCE_UNSPECIFIED (0), "
                    "SOURCE_INPUT (1), SOURCE_OUTPUT (2)"
                )


class RecordingBackends:
    """The gateway's backends, recording whether moderation ran at all."""

    def __init__(self):
        self.calls = []

    def set_default_addr(self, addr):
        pass

    async def aclose(self):
        pass

    async def moderate_text(self, text, source, pin):
        self.calls.append("text")
        return TextVerdict(intervened=False, filters=[], words=[], guardrail_id=pin.guardrail.id, backend="fake")

    async def moderate_images(self, images, source, pin):
        self.calls.append("images")
        return [ImageVerdict(i, False, [], [], "PNG", 1, 1) for i in range(len(images))]


@pytest.mark.parametrize("fmt", [7, 99, -5])
def test_apply_guardrail_unknown_image_format_fails_before_moderation(registry, fmt):
    backends = RecordingBackends()
    with serve(GuardrailServicer(DataPlane(backends, registry))) as port:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = guardrail_pb2_grpc.GuardrailServiceStub(ch)
            with pytest.raises(grpc.RpcError) as e:
                stub.ApplyGuardrail(
                    gr.ApplyGuardrailRequest(
                        content=[
                            gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="hello")),
                            gr.GuardrailContentBlock(image=gr.GuardrailImageBlock(format=fmt, data=PNG_1x1)),
                        ]
                    ),
                    timeout=30,
                )
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert e.value.details().startswith(f"content[1].image.format: {fmt} is not a valid safegen.v1.ImageFormat")
            assert "IMAGE_FORMAT_PNG (1), IMAGE_FORMAT_JPEG (2)" in e.value.details()
            with pytest.raises(grpc.RpcError) as e:
                stub.ApplyGuardrail(
                    gr.ApplyGuardrailRequest(
                        source=42, content=[gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="hello"))]
                    ),
                    timeout=30,
                )
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "source: 42" in e.value.details()
    assert backends.calls == []


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a":' * 50_000 + "1" + "}" * 50_000,
    ],
)
def test_deeply_nested_json_is_400_not_500(body):
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        status, _, raw = s.request("POST", "/v1/generate", body, headers={"Content-Type": "application/json"})
    assert status == 400 and b"nested too deeply" in raw


def test_http_body_limit_is_a_setting(monkeypatch):
    import http.client

    from safegen.gateway.http import start_http_server
    from support import running_server

    monkeypatch.setenv("SAFEGEN_HTTP_MAX_BODY_BYTES", "2048")

    async def start_http(port):
        return await start_http_server("127.0.0.1", 0, f"127.0.0.1:{port}")

    with running_server(FakeSafeGeneration(), FakeGuardrails(), start_extra=start_http) as (_, handle):
        for size, want in ((1000, 200), (5000, 413)):
            conn = http.client.HTTPConnection("127.0.0.1", handle.port, timeout=30)
            body = b'{"prompt": "' + b"a" * size + b'"}'
            conn.request("POST", "/v1/generate", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == want, resp.read()
            conn.close()
