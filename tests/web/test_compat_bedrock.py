"""Bedrock Runtime's ApplyGuardrail: boto3's `apply_guardrail` against a real stack, and the pure mapping."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config

from safegen.gateway.http import bedrock_compat as bc
from safegen.gateway.http.compat import CompatError
from safegen.v1 import common_pb2 as C
from safegen.v1 import guardrail_pb2

from .compat_support import BENIGN, PROFANE, RED_PNG, SEXUAL, WHITE_PNG, real_stack

BLOCKED_INPUT = "This prompt was blocked by the content policy. Please rephrase it."  # default.yaml


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


@pytest.fixture(scope="module")
def bedrock(stack):
    # Only endpoint_url changes; the SigV4 signature boto3 adds is accepted and ignored.
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=stack.base_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=60),
    )


def text(t: str) -> dict:
    return {"text": {"text": t}}


def image(data: bytes, fmt: str = "png") -> dict:
    return {"image": {"format": fmt, "source": {"bytes": data}}}


# ------------------------------------------------------------------------------------ the SDK


def test_benign_text_passes(bedrock):
    r = bedrock.apply_guardrail(
        guardrailIdentifier="default", guardrailVersion="DRAFT", source="INPUT", content=[text(BENIGN)]
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["action"] == "NONE" and r["outputs"] == [] and r["actionReason"] == "No action."
    [a] = r["assessments"]
    assert "contentPolicy" not in a  # INTERVENTIONS: only filters that intervened are listed
    assert a["invocationMetrics"]["guardrailCoverage"]["textCharacters"] == {
        "guarded": len(BENIGN),
        "total": len(BENIGN),
    }
    assert r["usage"]["contentPolicyUnits"] == 1 and r["usage"]["topicPolicyUnits"] == 0


def test_unsafe_text_intervenes_with_the_blocked_message(bedrock):
    r = bedrock.apply_guardrail(
        guardrailIdentifier="default", guardrailVersion="DRAFT", source="INPUT", content=[text(SEXUAL)]
    )
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": BLOCKED_INPUT}]
    assert r["actionReason"].startswith("Guardrail intervened.") and "SEXUAL" in r["actionReason"]
    filters = r["assessments"][0]["contentPolicy"]["filters"]
    sexual = [f for f in filters if f["type"] == "SEXUAL"]
    assert sexual == [
        {"type": "SEXUAL", "confidence": "HIGH", "filterStrength": "HIGH", "action": "BLOCKED", "detected": True}
    ]
    assert all(f["detected"] for f in filters)


def test_full_output_scope_lists_every_filter_and_words(bedrock):
    r = bedrock.apply_guardrail(
        guardrailIdentifier="default",
        guardrailVersion="DRAFT",
        source="INPUT",
        content=[text(PROFANE)],
        outputScope="FULL",
    )
    a = r["assessments"][0]
    assert [f["type"] for f in a["contentPolicy"]["filters"]] == [
        "SEXUAL",
        "VIOLENCE",
        "HATE",
        "INSULTS",
        "MISCONDUCT",
        "PROMPT_ATTACK",
    ]
    assert a["wordPolicy"]["managedWordLists"] == [
        {"match": "fuck you", "type": "PROFANITY", "action": "BLOCKED", "detected": True}
    ]
    assert a["wordPolicy"]["customWords"] == []


def test_image_blocks_are_moderated(bedrock):
    r = bedrock.apply_guardrail(
        guardrailIdentifier="default", guardrailVersion="DRAFT", source="OUTPUT", content=[text(BENIGN), image(RED_PNG)]
    )
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["guardrailCoverage"] == {
        "textCharacters": {"guarded": len(BENIGN), "total": len(BENIGN)},
        "images": {"guarded": 1, "total": 1},
    }
    assert r["usage"]["contentPolicyImageUnits"] == 1
    assert {
        "type": "SEXUAL",
        "confidence": "HIGH",
        "filterStrength": "HIGH",
        "action": "BLOCKED",
        "detected": True,
    } in r["assessments"][0]["contentPolicy"]["filters"]
    r = bedrock.apply_guardrail(
        guardrailIdentifier="default", guardrailVersion="DRAFT", source="OUTPUT", content=[image(WHITE_PNG)]
    )
    assert r["action"] == "NONE"


def test_guardrail_arns_and_other_guardrails(bedrock):
    arn = "arn:aws:bedrock:us-east-1:123456789012:guardrail/permissive-warn"
    r = bedrock.apply_guardrail(
        guardrailIdentifier=arn, guardrailVersion="DRAFT", source="INPUT", content=[text(BENIGN)], outputScope="FULL"
    )
    assert {f["filterStrength"] for f in r["assessments"][0]["contentPolicy"]["filters"]} == {"MEDIUM"}
    assert r["assessments"][0]["appliedGuardrailDetails"]["guardrailId"] == "permissive-warn"


def test_unknown_guardrail_is_resource_not_found(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as e:
        bedrock.apply_guardrail(
            guardrailIdentifier="nope", guardrailVersion="DRAFT", source="INPUT", content=[text(BENIGN)]
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "nope" in e.value.response["Error"]["Message"]


def test_unknown_guardrail_version_is_resource_not_found_listing_versions(bedrock):
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as e:
        bedrock.apply_guardrail(
            guardrailIdentifier="default", guardrailVersion="1", source="INPUT", content=[text(BENIGN)]
        )
    assert "known versions: DRAFT" in e.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"content": [image(b"not an image")]}, "only PNG and JPEG"),  # the image service's own message
        ({"content": [image(RED_PNG, "jpeg")]}, "format is JPEG but the bytes are PNG"),
        ({"content": [{"text": {"text": "  "}}]}, "must not be empty or blank"),
        ({"content": [text(BENIGN)], "guardrailVersion": "v2"}, "guardrailVersion must be DRAFT or a version number"),
    ],
)
def test_invalid_requests_are_validation_exceptions(bedrock, kwargs, fragment):
    args = {"guardrailIdentifier": "default", "guardrailVersion": "DRAFT", "source": "INPUT", **kwargs}
    with pytest.raises(bedrock.exceptions.ValidationException) as e:
        bedrock.apply_guardrail(**args)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment in e.value.response["Error"]["Message"]


def test_malformed_json_is_a_validation_exception_on_the_wire(stack):
    status, headers, raw = stack.request(
        "POST", "/guardrail/default/version/DRAFT/apply", '{"source": ', headers={"Content-Type": "application/json"}
    )
    assert status == 400 and headers["x-amzn-errortype"] == "ValidationException"
    assert json.loads(raw)["message"].startswith("malformed JSON")


# ------------------------------------------------------------------------------------ pure mapping


def test_identifiers_and_arns():
    assert bc.guardrail_id("default") == "default"
    assert bc.guardrail_id("arn:aws:bedrock:eu-west-1:123456789012:guardrail/strict") == "strict"
    assert bc.guardrail_id("arn:aws-cn:bedrock:cn-north-1:123456789012:guardrail/x1") == "x1"


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"content": [text("a")]}, "source is required"),
        ({"source": "INPUT"}, "content is required"),
        ({"source": "input", "content": [text("a")]}, "source must be one of INPUT, OUTPUT"),
        ({"source": "INPUT", "content": []}, "content has 0 blocks"),
        ({"source": "INPUT", "content": [text("a")] * 21}, "content has 21 blocks"),
        ({"source": "INPUT", "content": {"text": "a"}}, "content must be a list"),
        ({"source": "INPUT", "content": [{}]}, "exactly one of text or image"),
        ({"source": "INPUT", "content": [{**text("a"), **image(b"x")}]}, "exactly one of text or image"),
        ({"source": "INPUT", "content": [{"text": {"text": 5}}]}, "content[0].text.text must be a string"),
        (
            {"source": "INPUT", "content": [{"text": {"text": "a", "qualifiers": ["x"]}}]},
            "qualifiers[0] must be one of",
        ),
        (
            {"source": "INPUT", "content": [{"image": {"format": "gif", "source": {"bytes": "AAAA"}}}]},
            "format must be one of png, jpeg",
        ),
        (
            {"source": "INPUT", "content": [{"image": {"format": "png", "source": {"s3Location": {}}}}]},
            "source.bytes is required",
        ),
        ({"source": "INPUT", "content": [{"image": {"format": "png", "source": {"bytes": "A"}}}]}, "not padded base64"),
        ({"source": "INPUT", "content": [text("a")], "outputScope": "ALL"}, "outputScope must be one of"),
    ],
)
def test_bad_bodies_name_the_problem(body, fragment):
    with pytest.raises(CompatError) as e:
        bc.parse_request("default", "DRAFT", body)
    assert e.value.status == "INVALID_ARGUMENT" and fragment in e.value.message


def test_request_mapping():
    a = bc.parse_request(
        "default",
        "DRAFT",
        {
            "source": "OUTPUT",
            "content": [
                {"text": {"text": "hi", "qualifiers": ["guard_content"]}},
                {"image": {"format": "jpeg", "source": {"bytes": "AAAA"}}},
            ],
            "unknownMember": 1,
        },
    )
    assert a.output_scope == "INTERVENTIONS" and a.request.source == C.SOURCE_OUTPUT
    assert a.request.content[0].text.text == "hi"
    assert (
        a.request.content[1].image.format == guardrail_pb2.IMAGE_FORMAT_JPEG
        and a.request.content[1].image.data == b"\0\0\0"
    )


def test_filters_aggregate_over_blocks():
    def f(cat, conf, detected):
        return C.FilterResult(
            category=cat, confidence=conf, filter_strength=C.FILTER_STRENGTH_MEDIUM, detected=detected
        )

    assessments = [
        guardrail_pb2.GuardrailAssessment(
            filters=[f(C.CATEGORY_SEXUAL, C.CONFIDENCE_LOW, False), f(C.CATEGORY_HATE, C.CONFIDENCE_NONE, False)]
        ),
        guardrail_pb2.GuardrailAssessment(
            filters=[f(C.CATEGORY_SEXUAL, C.CONFIDENCE_HIGH, True), f(C.CATEGORY_HATE, C.CONFIDENCE_LOW, False)]
        ),
    ]
    assert bc.content_policy(assessments, full=False) == {
        "filters": [
            {"type": "SEXUAL", "confidence": "HIGH", "filterStrength": "MEDIUM", "action": "BLOCKED", "detected": True}
        ]
    }
    full = bc.content_policy(assessments, full=True)["filters"]
    assert [(x["type"], x["confidence"]) for x in full] == [("SEXUAL", "HIGH"), ("HATE", "LOW")]
    assert bc.content_policy(assessments[:1], full=False) is None


def test_usage_counts_text_units_of_1000_characters():
    req = guardrail_pb2.ApplyGuardrailRequest(
        content=[
            guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text="x" * 1001)),
            guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text="y")),
        ]
    )
    usage, coverage = bc.usage_and_coverage(req)
    assert usage["contentPolicyUnits"] == 3 and usage["contentPolicyImageUnits"] == 0
    assert coverage == {"textCharacters": {"guarded": 1002, "total": 1002}}


@pytest.mark.parametrize(
    "status,name,http",
    [
        ("INVALID_ARGUMENT", "ValidationException", 400),
        ("NOT_FOUND", "ResourceNotFoundException", 404),
        ("RESOURCE_EXHAUSTED", "ThrottlingException", 429),
        ("UNAVAILABLE", "ServiceUnavailableException", 503),
        ("INTERNAL", "InternalServerException", 500),
    ],
)
def test_errors_are_aws_shaped(status, name, http):
    resp = bc.error_response(400, status, "why")
    assert resp.status == http and resp.headers["x-amzn-ErrorType"] == name
    assert json.loads(resp.body) == {"__type": name, "message": "why"}


def test_the_fronts_own_refusals_keep_their_status_as_validation_exceptions():
    for http in (413, 415):
        resp = bc.error_response(http, "RESOURCE_EXHAUSTED" if http == 413 else "INVALID_ARGUMENT", "why")
        assert resp.status == http and resp.headers["x-amzn-ErrorType"] == "ValidationException"


# Topics, PII and detect-only actions as ApplyGuardrail reports them (end to end: test_compat_policies.py).
def test_topics_map_to_topic_policy():
    a = [
        guardrail_pb2.GuardrailAssessment(
            topics=[
                C.TopicResult(name="investment advice", type="DENY", detected=True, action=C.POLICY_ACTION_BLOCKED),
                C.TopicResult(name="politics", type="DENY", detected=False, action=C.POLICY_ACTION_NONE),
            ]
        ),
        guardrail_pb2.GuardrailAssessment(
            topics=[  # detect-only: detected, not blocked
                C.TopicResult(name="politics", type="DENY", detected=True, action=C.POLICY_ACTION_NONE)
            ]
        ),
    ]
    assert bc.topic_policy(a, full=False) == {
        "topics": [
            {"name": "investment advice", "type": "DENY", "action": "BLOCKED", "detected": True},
            {"name": "politics", "type": "DENY", "action": "NONE", "detected": True},
        ]
    }
    assert bc.topic_policy([guardrail_pb2.GuardrailAssessment()], full=True) is None


def test_sensitive_information_maps_to_pii_entities_and_regexes():
    a = [
        guardrail_pb2.GuardrailAssessment(
            sensitive_information=[
                C.SensitiveInformationResult(
                    type="EMAIL", match="a@b.example", detected=True, action=C.POLICY_ACTION_ANONYMIZED
                ),
                C.SensitiveInformationResult(
                    type="ORDER_ID", regex=True, match="ORD-123456", detected=True, action=C.POLICY_ACTION_BLOCKED
                ),
            ]
        )
    ]
    assert bc.sensitive_information_policy(a, full=False) == {
        "piiEntities": [{"match": "a@b.example", "type": "EMAIL", "action": "ANONYMIZED", "detected": True}],
        "regexes": [{"name": "ORDER_ID", "match": "ORD-123456", "action": "BLOCKED", "detected": True}],
    }
    assert bc.sensitive_information_policy([guardrail_pb2.GuardrailAssessment()], full=False) is None


def test_detect_only_filters_and_words_report_action_none():
    f = C.FilterResult(
        category=C.CATEGORY_HATE,
        confidence=C.CONFIDENCE_HIGH,
        score=0.9,
        detected=True,
        filter_strength=C.FILTER_STRENGTH_HIGH,
        action=C.POLICY_ACTION_NONE,
    )
    assert (
        bc.content_policy([guardrail_pb2.GuardrailAssessment(filters=[f])], full=False)["filters"][0]["action"]
        == "NONE"
    )
    w = C.WordMatch(match="darn", word_list=C.WORD_LIST_CUSTOM, action=C.POLICY_ACTION_NONE)
    assert bc.word_policy([guardrail_pb2.GuardrailAssessment(words=[w])]) == {
        "customWords": [{"match": "darn", "action": "NONE", "detected": True}],
        "managedWordLists": [],
    }
    # An entry without an action (a backend that sets none): whatever was detected blocked.
    assert bc.policy_action(C.FilterResult(detected=True), True) == "BLOCKED"
    assert bc.policy_action(C.FilterResult(), False) == "NONE"


def test_usage_and_coverage_are_the_engines_when_reported():
    req = guardrail_pb2.ApplyGuardrailRequest(
        content=[guardrail_pb2.GuardrailContentBlock(text=guardrail_pb2.GuardrailTextBlock(text="x"))]
    )
    resp = guardrail_pb2.ApplyGuardrailResponse(
        usage=guardrail_pb2.GuardrailUsage(topic_policy_units=1, content_policy_units=1, word_policy_units=1),
        guardrail_coverage=guardrail_pb2.GuardrailCoverage(text_characters_guarded=1, text_characters_total=1),
    )
    usage, coverage = bc.usage_and_coverage(req, resp)
    assert usage["topicPolicyUnits"] == 1 and usage["sensitiveInformationPolicyUnits"] == 0
    assert coverage == {"textCharacters": {"guarded": 1, "total": 1}}
