"""Azure AI Content Safety: `azure-ai-contentsafety`'s ContentSafetyClient against a real stack, and the mapping."""

from __future__ import annotations

import json

import pytest
from azure.ai.contentsafety import ContentSafetyClient
from azure.ai.contentsafety.models import AnalyzeImageOptions, AnalyzeTextOptions, ImageData, TextCategory
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from safegen.gateway.http import azure_compat as az
from safegen.gateway.http.compat import CompatError
from safegen.v1 import common_pb2 as C
from safegen.v1 import guardrail_pb2

from .compat_support import ATTACK, BENIGN, PROFANE, RED_PNG, SEXUAL, WHITE_PNG, real_stack


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


@pytest.fixture(scope="module")
def client(stack):
    # Only the endpoint changes; the key header is sent and ignored (no API keys configured here).
    return ContentSafetyClient(stack.base_url, AzureKeyCredential("unused"), retry_total=0)


def severities(result) -> dict[str, int]:
    return {c.category: c.severity for c in result.categories_analysis}


# ------------------------------------------------------------------------------------ the SDK


def test_benign_text_has_severity_zero_everywhere(client):
    r = client.analyze_text(AnalyzeTextOptions(text=BENIGN))
    assert severities(r) == {"Hate": 0, "SelfHarm": 0, "Sexual": 0, "Violence": 0}
    assert r.blocklists_match == []


def test_sexual_text_has_a_sexual_severity(client):
    r = client.analyze_text(AnalyzeTextOptions(text=SEXUAL, output_type="EightSeverityLevels"))
    assert severities(r)["Sexual"] == 6 and severities(r)["SelfHarm"] == 0


def test_requested_categories_only(client):
    r = client.analyze_text(AnalyzeTextOptions(text=SEXUAL, categories=[TextCategory.SEXUAL, TextCategory.HATE]))
    assert [c.category for c in r.categories_analysis] == ["Hate", "Sexual"]


def test_word_lists_answer_as_blocklist_matches(client):
    r = client.analyze_text(AnalyzeTextOptions(text=PROFANE, blocklist_names=["anything"]))
    assert [(m.blocklist_name, m.blocklist_item_text) for m in r.blocklists_match] == [("ManagedProfanity", "fuck you")]
    assert r.categories_analysis  # analysed as well
    halted = client.analyze_text(AnalyzeTextOptions(text=PROFANE, halt_on_blocklist_hit=True))
    assert halted.blocklists_match and halted.categories_analysis == []


def test_images_are_analysed(client):
    r = client.analyze_image(AnalyzeImageOptions(image=ImageData(content=RED_PNG)))
    assert severities(r) == {"Hate": 0, "SelfHarm": 0, "Sexual": 6, "Violence": 0}
    r = client.analyze_image(AnalyzeImageOptions(image=ImageData(content=WHITE_PNG)))
    assert set(severities(r).values()) == {0}


def test_shield_prompt_detects_prompt_attacks(client):
    def shield(body):
        resp = client.send_request(
            HttpRequest("POST", "/text:shieldPrompt", params={"api-version": "2024-09-01"}, json=body)
        )
        resp.raise_for_status()
        return resp.json()

    assert shield({"userPrompt": ATTACK, "documents": [BENIGN, ATTACK]}) == {
        "userPromptAnalysis": {"attackDetected": True},
        "documentsAnalysis": [{"attackDetected": False}, {"attackDetected": True}],
    }
    assert shield({"userPrompt": BENIGN}) == {"userPromptAnalysis": {"attackDetected": False}, "documentsAnalysis": []}


def test_bad_requests_are_azure_errors(client, stack):
    with pytest.raises(HttpResponseError) as e:
        client.analyze_text(AnalyzeTextOptions(text=""))
    assert e.value.status_code == 400 and e.value.error.code == "InvalidRequestBody"
    assert "text must not be empty" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        client.analyze_image(AnalyzeImageOptions(image=ImageData(content=b"not an image")))
    assert e.value.status_code == 400 and "only PNG and JPEG" in e.value.error.message
    with pytest.raises(HttpResponseError) as e:
        client.analyze_image(AnalyzeImageOptions(image=ImageData(blob_url="https://x.blob.core.windows.net/c/i.png")))
    assert "does not fetch" in e.value.error.message
    status, _, raw = stack.request(
        "POST", "/contentsafety/text:analyze?api-version=2023-10-01", "{", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and json.loads(raw)["error"]["code"] == "InvalidRequestBody"


# ------------------------------------------------------------------------------------ pure mapping


@pytest.mark.parametrize(
    "confidence,severity",
    [(C.CONFIDENCE_NONE, 0), (C.CONFIDENCE_LOW, 2), (C.CONFIDENCE_MEDIUM, 4), (C.CONFIDENCE_HIGH, 6)],
)
def test_confidence_maps_to_severity(confidence, severity):
    a = guardrail_pb2.GuardrailAssessment(filters=[C.FilterResult(category=C.CATEGORY_VIOLENCE, confidence=confidence)])
    assert az.categories_analysis(a, ["Violence", "SelfHarm"]) == [
        {"category": "Violence", "severity": severity},
        {"category": "SelfHarm", "severity": 0},
    ]


@pytest.mark.parametrize(
    "fn,body,fragment",
    [
        (az.text_request, {}, "text is required"),
        (az.text_request, {"text": 5}, "text must be a string"),
        (az.text_request, {"text": "a", "categories": ["Gore"]}, "categories[0] must be one of"),
        (az.text_request, {"text": "a", "categories": [[]]}, "categories[0] must be one of"),
        (az.text_request, {"text": "a", "categories": []}, "non-empty list"),
        (az.text_request, {"text": "a", "outputType": "TwoLevels"}, "outputType must be one of"),
        (az.text_request, {"text": "a", "haltOnBlocklistHit": "yes"}, "must be a boolean"),
        (az.text_request, {"text": "a", "blocklistNames": "x"}, "blocklistNames must be a list"),
        (az.image_request, {}, "image is required"),
        (az.image_request, {"image": {}}, "image.content is required"),
        (az.image_request, {"image": {"content": "AA"}}, "not padded base64"),
        (
            az.image_request,
            {"image": {"content": "AAAA"}, "outputType": "EightSeverityLevels"},
            "outputType must be one of",
        ),
        (az.shield_request, {"userPrompt": 1}, "userPrompt must be a string"),
        (az.shield_request, {"documents": "x"}, "documents must be a list of strings"),
        (az.shield_request, {"documents": ["x"] * 20}, "at most 19"),
    ],
)
def test_bad_bodies_name_the_problem(fn, body, fragment):
    with pytest.raises(CompatError) as e:
        fn(body)
    assert e.value.status == "INVALID_ARGUMENT" and fragment in e.value.message


def test_shield_skips_blank_texts():
    req, n = az.shield_request({"userPrompt": " ", "documents": ["a", "", "b"]})
    assert [b.text.text for b in req.content] == ["a", "b"] and n == 3
    attack = C.FilterResult(category=C.CATEGORY_PROMPT_ATTACK, detected=True)
    resp = guardrail_pb2.ApplyGuardrailResponse(
        assessments=[
            guardrail_pb2.GuardrailAssessment(content_index=0),
            guardrail_pb2.GuardrailAssessment(content_index=1, filters=[attack]),
        ]
    )
    assert az.shield_result({"userPrompt": " ", "documents": ["a", "", "b"]}, resp) == {
        "userPromptAnalysis": {"attackDetected": False},
        "documentsAnalysis": [{"attackDetected": False}, {"attackDetected": False}, {"attackDetected": True}],
    }
    assert az.shield_request({})[0] is None


def test_errors_are_azure_shaped():
    resp = az.error_response(404, "NOT_FOUND", "why")
    assert resp.status == 404 and json.loads(resp.body) == {"error": {"code": "NotFound", "message": "why"}}
    assert json.loads(az.error_response(413, "RESOURCE_EXHAUSTED", "big").body)["error"]["code"] == "RequestTooLarge"
