"""Guardrail features over real gRPC and the HTTP front: versions in every response, detect-only and SHADOW,
anonymized prompts reaching the generator, tightening, usage, ListGuardrails versions, reload under load."""

from __future__ import annotations

import io
import threading
import time

import grpc
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from safegen.gateway import convert
from safegen.gateway.inprocess import InProcessBackends
from safegen.gateway.plane import DataPlane
from safegen.gateway.servicer import servicers_for
from safegen.core.types import Category, Level
from safegen.image.servicer import create_servicer as image_servicer
from safegen.policy import GuardrailRegistry
from safegen.text.servicer import create_servicer as text_servicer
from safegen.v1 import common_pb2 as c, guardrail_pb2 as gr, guardrail_pb2_grpc as gr_grpc
from safegen.v1 import image_generation_pb2 as gen_pb, image_generation_pb2_grpc as gen_grpc
from safegen.v1 import image_moderation_pb2 as im, image_moderation_pb2_grpc as im_grpc
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc
from safegen.v1 import text_moderation_pb2 as tm, text_moderation_pb2_grpc as tm_grpc
from support import RedIsUnsafe
from web.stack import run_stack

from policy_helpers import FixedBackend, write


def _png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, "PNG")
    return buf.getvalue()


class RecordingGeneration(gen_grpc.ImageGenerationServiceServicer):
    """Returns white (or, for prompts with "red", red) images and records the requests it got."""

    def __init__(self):
        self.requests: list[gen_pb.GenerateImagesRequest] = []

    async def GenerateImages(self, request, context):  # noqa: N802
        self.requests.append(request)
        img = _png((220, 20, 20) if "red" in request.prompt else (255, 255, 255))
        n = request.num_images or 1
        return gen_pb.GenerateImagesResponse(
            images=[img] * n,
            seeds=list(range(n)),
            model_id="recording",
            backend="test",
            negative_prompt=request.negative_prompt,
            negative_prompt_applied=True,
            action=c.ACTION_NONE,
        )


BRAND = {
    "id": "brand",
    "contentPolicyConfig": {
        "filtersConfig": [
            {"type": "VIOLENCE", "inputStrength": "HIGH", "outputStrength": "HIGH"},
            {"type": "SEXUAL", "inputStrength": "HIGH", "outputStrength": "HIGH", "outputAction": "NONE"},
        ]
    },
    "wordPolicyConfig": {"wordsConfig": [{"text": "dragon"}, {"text": "unicorn", "inputAction": "NONE"}]},
    "sensitiveInformationPolicyConfig": {
        "piiEntitiesConfig": [
            {"type": "EMAIL", "action": "ANONYMIZE"},
            {"type": "CREDIT_DEBIT_CARD_NUMBER", "action": "BLOCK"},
        ],
        "regexesConfig": [{"name": "ORDER_ID", "pattern": r"\bORD-\d{6}\b", "action": "ANONYMIZE"}],
    },
    "blockedInputMessaging": "brand says no",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("guardrails")
    write(d, "brand-1.yaml", {**BRAND, "version": 1})
    write(d, "brand-2.yaml", {**BRAND, "version": 2, "blockedInputMessaging": "brand v2 says no"})
    write(d, "shadow.yaml", {**BRAND, "id": "shadow", "safegen": {"mode": "SHADOW"}})
    registry = GuardrailRegistry.load(d)
    gen = RecordingGeneration()
    backend = FixedBackend(by_word={"violent": {Category.VIOLENCE: Level.HIGH}})
    text, image = text_servicer(registry, backend=backend), image_servicer(registry, detector=RedIsUnsafe())

    class Backends(InProcessBackends):  # the all-in-one wiring, generating with the recording double
        async def generate(self, request, pin, on_progress=None):
            # Through the split-mode conversions, so the double records the message a generation service gets.
            message = convert.generation_request_pb(request, pin.guardrail.id, pin.version)
            return convert.generation_result(await gen.GenerateImages(message, None))

    plane = DataPlane(Backends(text, image), registry)
    servicers = [text, image, gen, *servicers_for(plane)]
    with run_stack(*servicers, plane=plane) as s:
        ch = grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}")
        yield {
            "stack": s,
            "gen": gen,
            "registry": registry,
            "dir": d,
            "text": tm_grpc.TextModerationServiceStub(ch),
            "image": im_grpc.ImageModerationServiceStub(ch),
            "gw": pb_grpc.SafeGenerationServiceStub(ch),
            "gr": gr_grpc.GuardrailServiceStub(ch),
        }


def test_moderate_text_reports_version_and_new_policies(stack):
    r = stack["text"].ModerateText(
        tm.ModerateTextRequest(text="mail a@example.com about ORD-123456, a unicorn", guardrail_id="brand"), timeout=10
    )
    assert (r.guardrail_id, r.guardrail_version) == ("brand", "2")
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and not r.blocked
    assert r.anonymized_text == "mail {EMAIL} about {ORDER_ID}, a unicorn"
    assert [(s.type, s.regex, s.action) for s in r.sensitive_information] == [
        ("EMAIL", False, c.POLICY_ACTION_ANONYMIZED),
        ("ORDER_ID", True, c.POLICY_ACTION_ANONYMIZED),
    ]
    assert [(w.word, w.action) for w in r.words] == [("unicorn", c.POLICY_ACTION_NONE)]
    assert r.detected_action == c.ACTION_GUARDRAIL_INTERVENED
    r1 = stack["text"].ModerateText(
        tm.ModerateTextRequest(text="hello", guardrail_id="brand", guardrail_version="1"), timeout=10
    )
    assert r1.guardrail_version == "1" and r1.action == c.ACTION_NONE and r1.detected_action == c.ACTION_NONE


def test_unknown_version_is_not_found_with_the_known_ones(stack):
    with pytest.raises(grpc.RpcError) as e:
        stack["text"].ModerateText(
            tm.ModerateTextRequest(text="x", guardrail_id="brand", guardrail_version="9"), timeout=10
        )
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "known versions: 1, 2" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stack["gw"].Generate(pb.GenerateRequest(prompt="x", guardrail_id="brand", guardrail_version="v2"), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "guardrail_version" in e.value.details()


def test_moderate_images_detect_only_output_filter(stack):
    r = stack["image"].ModerateImages(
        im.ModerateImagesRequest(images=[_png((220, 20, 20))], guardrail_id="brand"), timeout=10
    )
    assert r.guardrail_version == "2"
    [res] = r.results
    assert res.action == c.ACTION_NONE and res.detected_action == c.ACTION_GUARDRAIL_INTERVENED
    [sexual] = [f for f in res.filters if f.category == c.CATEGORY_SEXUAL]
    assert sexual.detected and sexual.action == c.POLICY_ACTION_NONE
    # Tightening cannot switch a detect-only filter to blocking, but the default guardrail blocks it.
    r = stack["image"].ModerateImages(im.ModerateImagesRequest(images=[_png((220, 20, 20))]), timeout=10)
    assert r.results[0].action == c.ACTION_GUARDRAIL_INTERVENED and r.guardrail_version == "DRAFT"


def test_generate_gives_the_generator_the_anonymized_prompt(stack):
    before = len(stack["gen"].requests)
    r = stack["gw"].Generate(
        pb.GenerateRequest(prompt="a poster for a@example.com", guardrail_id="brand", guardrail_version="1"), timeout=30
    )
    [sent] = stack["gen"].requests[before:]
    assert sent.prompt == "a poster for {EMAIL}" and sent.guardrail_version == "1"
    assert (r.guardrail_id, r.guardrail_version) == ("brand", "1")
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and len(r.images) == 1 and r.images[0].data
    assert r.prompt_assessment.anonymized_prompt == "a poster for {EMAIL}"
    assert any("EMAIL" in w for w in r.warnings)


def test_generate_blocks_with_the_versions_message(stack):
    before = len(stack["gen"].requests)
    r = stack["gw"].Generate(
        pb.GenerateRequest(prompt="pay with 4111 1111 1111 1111", guardrail_id="brand"), timeout=30
    )
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and not r.images and r.blocked_message == "brand v2 says no"
    assert len(stack["gen"].requests) == before


def _decisions(source, category, action):
    return (
        REGISTRY.get_sample_value("safegen_decisions_total", {"source": source, "category": category, "action": action})
        or 0.0
    )


def test_shadow_mode_generates_and_counts_detected(stack):
    words, sexual = _decisions("input", "WORDS", "DETECTED"), _decisions("output", "SEXUAL", "DETECTED")
    r = stack["gw"].Generate(pb.GenerateRequest(prompt="a red dragon, violent", guardrail_id="shadow"), timeout=30)
    assert r.action == c.ACTION_NONE and r.detected_action == c.ACTION_GUARDRAIL_INTERVENED
    assert r.images and not r.images[0].blurred and r.images[0].detected_action == c.ACTION_GUARDRAIL_INTERVENED
    assert {w.word for w in r.prompt_assessment.words} == {"dragon"}
    assert _decisions("input", "WORDS", "DETECTED") == words + 1
    assert _decisions("output", "SEXUAL", "DETECTED") == sexual + 1


def test_apply_guardrail_counts_decisions(stack):
    before = {
        k: _decisions("input", *k)
        for k in [
            ("WORDS", "BLOCKED"),
            ("WORDS", "DETECTED"),
            ("SENSITIVE_INFORMATION", "ANONYMIZED"),
            ("NONE", "ALLOWED"),
        ]
    }
    stack["gr"].ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            guardrail_id="brand",
            content=[
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a dragon")),
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a unicorn for a@example.com")),
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a cat")),
            ],
        ),
        timeout=10,
    )
    assert {k: _decisions("input", *k) - v for k, v in before.items()} == {
        ("WORDS", "BLOCKED"): 1,
        ("WORDS", "DETECTED"): 1,
        ("SENSITIVE_INFORMATION", "ANONYMIZED"): 1,
        ("NONE", "ALLOWED"): 1,
    }


def test_tightening_over_grpc(stack):
    tight = [c.FilterTightening(category=c.CATEGORY_HATE, input_strength=c.FILTER_STRENGTH_HIGH)]
    r = stack["gr"].ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            guardrail_id="permissive-warn",
            tighten_filters=tight,
            content=[gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="hello"))],
        ),
        timeout=10,
    )
    [hate] = [f for f in r.assessments[0].filters if f.category == c.CATEGORY_HATE]
    assert hate.filter_strength == c.FILTER_STRENGTH_HIGH
    for bad, fragment in [
        ([c.FilterTightening(category=c.CATEGORY_HATE, input_strength=c.FILTER_STRENGTH_LOW)], "looser"),
        ([c.FilterTightening(category=c.CATEGORY_HATE)], "neither"),
        ([c.FilterTightening(input_strength=c.FILTER_STRENGTH_HIGH)], "category must be set"),
    ]:
        with pytest.raises(grpc.RpcError) as e:
            stack["gw"].Generate(
                pb.GenerateRequest(prompt="x", guardrail_id="permissive-warn", tighten_filters=bad), timeout=10
            )
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fragment in e.value.details()


def test_apply_guardrail_outputs_usage_and_coverage(stack):
    text = "mail a@example.com " + "x" * 1200
    r = stack["gr"].ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            guardrail_id="brand",
            content=[
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text=text)),
                gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="plain")),
                gr.GuardrailContentBlock(image=gr.GuardrailImageBlock(data=_png((255, 255, 255)))),
            ],
        ),
        timeout=10,
    )
    assert r.guardrail_version == "2" and r.action == c.ACTION_GUARDRAIL_INTERVENED
    assert [o.text for o in r.outputs] == ["mail {EMAIL} " + "x" * 1200, "plain"]
    assert "anonymized EMAIL" in r.action_reason
    u = r.usage
    assert (u.content_policy_units, u.word_policy_units, u.sensitive_information_policy_units) == (3, 3, 3)
    assert u.topic_policy_units == 0 and u.content_policy_image_units == 1
    cov = r.guardrail_coverage
    assert (cov.text_characters_guarded, cov.text_characters_total) == (len(text) + 5, len(text) + 5)
    assert (cov.images_guarded, cov.images_total) == (1, 1)
    blocked = stack["gr"].ApplyGuardrail(
        gr.ApplyGuardrailRequest(
            guardrail_id="brand",
            content=[gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a dragon and a@example.com"))],
        ),
        timeout=10,
    )
    assert [o.text for o in blocked.outputs] == ["brand v2 says no"]


def test_list_guardrails_lists_versions(stack):
    r = stack["gr"].ListGuardrails(gr.ListGuardrailsRequest(), timeout=10)
    by_id = {g.id: g for g in r.guardrails}
    assert list(by_id["brand"].versions) == ["1", "2"] and by_id["brand"].latest_version == "2"
    assert by_id["shadow"].mode == "SHADOW" and list(by_id["default"].versions) == ["DRAFT"]


def test_http_front_maps_the_new_fields(stack):
    s = stack["stack"]
    status, body = s.json(
        "POST",
        "/v1/apply-guardrail",
        {
            "guardrailId": "brand",
            "guardrailVersion": "1",
            "content": [{"text": {"text": "order ORD-654321 for b@example.com"}}],
        },
        headers={"X-Request-Id": "http-7"},
    )
    assert status == 200, body
    assert body["requestId"] == "http-7"  # the audit log's id for this decision
    assert body["guardrailVersion"] == "1" and body["outputs"] == [{"text": "order {ORDER_ID} for {EMAIL}"}]
    assert body["usage"]["sensitiveInformationPolicyUnits"] == 1
    assert body["assessments"][0]["sensitiveInformation"][0]["type"] == "ORDER_ID"
    status, body = s.json("GET", "/v1/guardrails")
    assert (
        status == 200
        and {"id": "brand", "versions": ["1", "2"]}.items()
        <= {k: v for g in body["guardrails"] if g["id"] == "brand" for k, v in g.items()}.items()
    )
    status, body = s.json("POST", "/v1/generate", {"prompt": "x", "guardrailId": "brand", "guardrailVersion": "5"})
    assert status == 404 and body["status"] == "NOT_FOUND" and "known versions: 1, 2" in body["message"]


def test_reload_under_concurrent_apply_guardrail_calls(stack):
    """A third version lands while 4 clients call ApplyGuardrail: every answer is v2's or v3's, whole."""
    d, registry = stack["dir"], stack["registry"]
    stop, problems, seen = threading.Event(), [], set()
    stub = stack["gr"]
    req = gr.ApplyGuardrailRequest(
        guardrail_id="brand", content=[gr.GuardrailContentBlock(text=gr.GuardrailTextBlock(text="a dragon"))]
    )
    expected = {"2": "brand v2 says no", "3": "brand v3 says no"}

    def client():
        while not stop.is_set():
            try:
                r = stub.ApplyGuardrail(req, timeout=10)
            except grpc.RpcError as e:
                problems.append(f"{e.code()}: {e.details()}")
                continue
            seen.add(r.guardrail_version)
            if [o.text for o in r.outputs] != [expected.get(r.guardrail_version)]:
                problems.append(f"v{r.guardrail_version} answered {[o.text for o in r.outputs]}")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        write(d, "brand-3.yaml", {**BRAND, "version": 3, "blockedInputMessaging": "brand v3 says no"})
        registry.reload()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
        (d / "brand-3.yaml").unlink()
        registry.reload()
    assert not problems, problems[:5]
    assert "3" in seen
