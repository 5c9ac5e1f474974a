"""boto3's apply_guardrail against a guardrail using every policy (the documented example): denied topics,
PII and regexes with ANONYMIZE, detect-only words and topics, versions, the engine's usage."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from .compat_support import real_stack

EXAMPLES = Path(__file__).resolve().parents[2] / "services/safegen/policy/examples"


@pytest.fixture(scope="module")
def bedrock():
    with real_stack(EXAMPLES) as s:
        yield boto3.client(
            "bedrock-runtime",
            endpoint_url=s.base_url,
            region_name="us-east-1",
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
            config=Config(retries={"max_attempts": 1}, read_timeout=60),
        )


def apply(bedrock, text: str, version: str = "1", scope: str = "INTERVENTIONS") -> dict:
    return bedrock.apply_guardrail(
        guardrailIdentifier="everything",
        guardrailVersion=version,
        source="INPUT",
        content=[{"text": {"text": text}}],
        outputScope=scope,
    )


def test_a_denied_topic_intervenes(bedrock):
    r = apply(bedrock, "which stocks should I buy this week")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["assessments"][0]["topicPolicy"]["topics"] == [
        {"name": "Investment advice", "type": "DENY", "action": "BLOCKED", "detected": True}
    ]
    assert r["usage"]["topicPolicyUnits"] == 1
    assert r["assessments"][0]["appliedGuardrailDetails"] == {"guardrailId": "everything", "guardrailVersion": "1"}


def test_pii_and_regexes_are_anonymized_in_the_output(bedrock):
    r = apply(bedrock, "a watercolor of a lighthouse, signed jane.doe@example.com, order ORD-1234567")
    assert r["action"] == "GUARDRAIL_INTERVENED"
    assert r["outputs"] == [{"text": "a watercolor of a lighthouse, signed {EMAIL}, order {ORDER_ID}"}]
    sip = r["assessments"][0]["sensitiveInformationPolicy"]
    assert sip["piiEntities"] == [
        {"match": "jane.doe@example.com", "type": "EMAIL", "action": "ANONYMIZED", "detected": True}
    ]
    assert sip["regexes"] == [{"name": "ORDER_ID", "match": "ORD-1234567", "action": "ANONYMIZED", "detected": True}]


def test_detect_only_policies_report_without_intervening(bedrock):
    r = apply(bedrock, "our competitor sells cheaper")
    assert r["action"] == "NONE" and r["outputs"] == []
    assert r["assessments"][0]["wordPolicy"]["customWords"] == [
        {"match": "competitor", "action": "NONE", "detected": True}
    ]
    r = apply(bedrock, "what disease do I have if my chest hurts and I feel dizzy")
    assert r["action"] == "NONE"
    assert r["assessments"][0]["topicPolicy"]["topics"] == [
        {"name": "Medical diagnosis", "type": "DENY", "action": "NONE", "detected": True}
    ]


def test_responses_match_the_published_schema(bedrock):
    from jsonschema import Draft202012Validator

    from safegen.gateway.http.openapi import build_spec

    spec = build_spec()
    validator = Draft202012Validator({**spec, "$ref": "#/components/schemas/bedrock.ApplyGuardrailResponse"})
    for text in ("which stocks should I buy this week", "signed jane.doe@example.com", "our competitor"):
        r = apply(bedrock, text, scope="FULL")
        r.pop("ResponseMetadata")
        validator.validate(r)


def test_versions(bedrock):
    assert (
        apply(bedrock, "a lighthouse", version="DRAFT")["assessments"][0]["appliedGuardrailDetails"]["guardrailVersion"]
        == "1"
    )
    with pytest.raises(bedrock.exceptions.ResourceNotFoundException) as e:
        apply(bedrock, "a lighthouse", version="2")
    assert "known versions: 1" in e.value.response["Error"]["Message"]


def test_openai_categories_say_what_was_detected_and_flagged_what_was_enforced(tmp_path):
    import openai

    (tmp_path / "insults-watch.yaml").write_text(
        "id: insults-watch\nname: Insults, detect-only\ncontentPolicyConfig:\n  filtersConfig:\n"
        "    - {type: INSULTS, inputStrength: HIGH, outputStrength: HIGH, inputAction: NONE, outputAction: NONE}\n"
    )
    with real_stack(tmp_path) as s:
        client = openai.OpenAI(base_url=f"{s.base_url}/v1", api_key="unused", max_retries=0)
        [m] = client.moderations.create(model="insults-watch", input="you're such a loser lol").results
        assert m.categories.harassment is True and m.flagged is False
        [m] = client.moderations.create(model="omni-moderation-latest", input="you're such a loser lol").results
        assert m.categories.harassment is True and m.flagged is True  # the default guardrail enforces it
