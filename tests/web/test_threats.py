"""Threat matches reach callers: ApplyGuardrail over HTTP/JSON and gRPC on the real text service, and not the drop-ins."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import json_format

from safegen.v1 import common_pb2 as C
from safegen.v1 import guardrail_pb2, guardrail_pb2_grpc

from .compat_support import real_stack

PLAIN = "I will kill you"
OBFUSCATED = "\U0001f642 ok. I will k i l l y0u now"  # the emoji is one code point (two in UTF-16)
BENIGN = "a quiet lake at dawn"


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


def request(*texts: str) -> dict:
    return {"source": "SOURCE_INPUT", "content": [{"text": {"text": t}} for t in texts]}


def test_http_apply_guardrail_lists_threats_with_spans_on_the_original_text(stack):
    status, body = stack.json("POST", "/v1/apply-guardrail", request(PLAIN, OBFUSCATED, BENIGN))
    assert status == 200
    plain, obfuscated, benign = body["assessments"]
    assert plain["threats"] == [
        {
            "match": "I will kill you",
            "start": 0,
            "end": 15,
            "category": "CATEGORY_VIOLENCE",
            "kind": "intent",
            "action": "POLICY_ACTION_BLOCKED",
        }
    ]
    [t] = obfuscated["threats"]
    assert (t["match"], t["start"], t["end"]) == ("I will k i l l y0u", 6, 24)
    assert OBFUSCATED[t["start"] : t["end"]] == t["match"]
    assert benign["threats"] == []
    violence = next(f for f in plain["filters"] if f["category"] == "CATEGORY_VIOLENCE")
    assert (violence["confidence"], violence["action"]) == ("CONFIDENCE_HIGH", "POLICY_ACTION_BLOCKED")
    assert body["action"] == "ACTION_GUARDRAIL_INTERVENED"


def test_grpc_apply_guardrail_says_the_same(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
        resp = guardrail_pb2_grpc.GuardrailServiceStub(channel).ApplyGuardrail(
            json_format.ParseDict(request(PLAIN, BENIGN), guardrail_pb2.ApplyGuardrailRequest()), timeout=60
        )
    [t] = resp.assessments[0].threats
    assert (t.match, t.start, t.end, t.kind, t.category, t.action) == (
        "I will kill you",
        0,
        15,
        "intent",
        C.CATEGORY_VIOLENCE,
        C.POLICY_ACTION_BLOCKED,
    )
    assert list(resp.assessments[1].threats) == []


def test_bedrock_drop_in_reports_the_violence_filter_and_invents_no_threat_field(stack):
    # Bedrock's ApplyGuardrail has no threat assessment: the threat shows as the VIOLENCE content filter only.
    status, body = stack.json(
        "POST",
        "/guardrail/default/version/DRAFT/apply",
        {"source": "INPUT", "content": [{"text": {"text": PLAIN}}], "outputScope": "FULL"},
    )
    assert status == 200 and body["action"] == "GUARDRAIL_INTERVENED"
    [assessment] = body["assessments"]
    violence = next(f for f in assessment["contentPolicy"]["filters"] if f["type"] == "VIOLENCE")
    assert (violence["confidence"], violence["action"], violence["detected"]) == ("HIGH", "BLOCKED", True)
    assert "threat" not in json.dumps(body).lower()
