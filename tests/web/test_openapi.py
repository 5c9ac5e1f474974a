"""OpenAPI: a valid 3.1 document, generated from the descriptors, that real responses validate against."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import descriptor as _d
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from safegen.gateway.http import comments
from safegen.gateway.http.openapi import build_spec
from safegen.v1 import guardrail_pb2, safe_generation_pb2

from .fakes import PNG_1x1, FakeGuardrails, FakeSafeGeneration
from .stack import run_stack
from .test_http import parse_sse


@pytest.fixture(scope="module")
def spec():
    return build_spec()


@pytest.fixture(scope="module")
def stack():
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        yield s


def validator(spec: dict, name: str) -> Draft202012Validator:
    # The whole document is the root so that "#/components/schemas/..." references resolve.
    return Draft202012Validator({**spec, "$ref": f"#/components/schemas/{name}"})


def test_spec_is_valid_openapi_3_1(spec):
    validate(spec)
    assert spec["openapi"] == "3.1.0"


def test_served_spec_is_the_generated_one(stack, spec):
    status, served = stack.json("GET", "/openapi.json")
    assert status == 200 and served == spec


def _messages(desc: _d.Descriptor, seen: dict[str, _d.Descriptor]) -> None:
    if desc.full_name in seen:
        return
    seen[desc.full_name] = desc
    for f in desc.fields:
        if f.message_type is not None:
            _messages(f.message_type, seen)


def test_every_message_field_is_described_by_its_json_name(spec):
    roots = [
        safe_generation_pb2.GenerateRequest,
        safe_generation_pb2.GenerateResponse,
        safe_generation_pb2.StreamGenerateRequest,
        safe_generation_pb2.StreamGenerateResponse,
        guardrail_pb2.ApplyGuardrailRequest,
        guardrail_pb2.ApplyGuardrailResponse,
        guardrail_pb2.ListGuardrailsResponse,
    ]
    seen: dict[str, _d.Descriptor] = {}
    for r in roots:
        _messages(r.DESCRIPTOR, seen)
    schemas = spec["components"]["schemas"]
    for name, desc in seen.items():
        assert set(schemas[name]["properties"]) == {f.json_name for f in desc.fields}, name
        assert schemas[name]["additionalProperties"] is False
    seed = schemas["safegen.v1.GeneratedImage"]["properties"]["seed"]
    assert "string" in seed["type"]  # int64 travels as a string
    data = schemas["safegen.v1.GeneratedImage"]["properties"]["data"]
    assert data["contentEncoding"] == "base64"
    assert schemas["safegen.v1.Action"]["anyOf"][0]["enum"] == [
        "ACTION_UNSPECIFIED",
        "ACTION_NONE",
        "ACTION_GUARDRAIL_INTERVENED",
    ]


def test_comments_come_from_the_protos(spec):
    schemas = spec["components"]["schemas"]
    assert (
        schemas["safegen.v1.GenerateRequest"]["properties"]["prompt"]["description"]
        == "The text prompt; required, at most 2,000 characters."
    )
    assert "Bedrock" in spec["paths"]["/v1/apply-guardrail"]["post"]["summary"]


def test_committed_comments_match_the_protos(repo_root):
    protos = repo_root / "protos"
    if not protos.is_dir():
        pytest.skip(f"no proto sources at {protos}")
    assert comments.extract(protos) == comments.load(), (
        "proto_comments.json is stale: run python -m safegen.gateway.http.comments"
    )


def test_real_responses_validate_against_the_schemas(stack, spec):
    status, body = stack.json("POST", "/v1/generate", {"prompt": "a red circle", "seed": "3"})
    assert status == 200
    validator(spec, "safegen.v1.GenerateResponse").validate(body)

    _, _, raw = stack.request("POST", "/v1/generate:stream", {"prompt": "a red circle"})
    events = parse_sse(raw)
    assert events
    event_schema = spec["paths"]["/v1/generate:stream"]["post"]["responses"]["200"]["content"]["text/event-stream"][
        "schema"
    ]
    for name, data in events:
        # Each event as SSE tools see it (name and raw data), and its data as the message it carries.
        Draft202012Validator({**spec, **event_schema}).validate({"event": name, "data": json.dumps(data)})
        validator(spec, "safegen.v1.StreamGenerateResponse").validate(data)

    req = {"content": [{"text": {"text": "hi"}}, {"image": {"data": base64.b64encode(PNG_1x1).decode()}}]}
    validator(spec, "safegen.v1.ApplyGuardrailRequest").validate(req)
    status, body = stack.json("POST", "/v1/apply-guardrail", req)
    assert status == 200
    validator(spec, "safegen.v1.ApplyGuardrailResponse").validate(body)

    status, body = stack.json("GET", "/v1/guardrails")
    validator(spec, "safegen.v1.ListGuardrailsResponse").validate(body)

    status, body = stack.json("POST", "/v1/generate", {"prompt": "raise:NOT_FOUND"})
    assert status == 404
    validator(spec, "google.rpc.Status").validate(body)


@pytest.mark.parametrize(
    "body,valid",
    [
        ({"prompt": "x"}, True),
        ({"prompt": "x", "seed": "12"}, True),
        ({"prompt": "x", "seed": 12}, True),
        ({"prompt": "x", "guidanceScale": "NaN"}, True),
        ({"prompt": "x", "bogus": 1}, False),
        ({"prompt": "x", "seed": "twelve"}, False),
        ({"prompt": "x", "width": -8}, False),
        ({"prompt": 1}, False),
        ({"prompt": "x", "guidanceScale": False}, False),
        ({"prompt": "x", "width": 8.0}, True),
        ({"prompt": "x", "width": 8.5}, False),
        ({"prompt": "x", "guardrailId": "default"}, True),
        ({"prompt": "x", "guidanceScale": 1e39}, False),
        ({"prompt": None, "seed": None}, True),
        ({"prompt": "x", "seed": str(2**63)}, False),
    ],
)
def test_request_schema_agrees_with_the_parser(spec, stack, body, valid):
    """The schema accepts exactly what the server's parser accepts, for a table of edge cases."""
    assert validator(spec, "safegen.v1.GenerateRequest").is_valid(body) is valid
    status, _ = stack.json("POST", "/v1/generate", body)
    assert (status == 200) is valid


@pytest.mark.parametrize(
    "source,valid",
    [
        ("SOURCE_INPUT", True),
        (1, True),
        (2**31 - 1, True),
        (2**31, False),
        (-(2**52), False),
        (1.5, False),
        (True, False),
    ],
)
def test_apply_guardrail_enum_agrees_with_the_parser(spec, stack, source, valid):
    body = {"source": source, "content": [{"text": {"text": "hi"}}]}
    assert validator(spec, "safegen.v1.ApplyGuardrailRequest").is_valid(body) is valid
    status, _ = stack.json("POST", "/v1/apply-guardrail", body)
    assert (status == 200) is valid


def test_oneof_members_are_exclusive(spec):
    v = validator(spec, "safegen.v1.GuardrailContentBlock")
    assert v.is_valid({"text": {"text": "a"}})
    assert not v.is_valid({"text": {"text": "a"}, "image": {"data": ""}})
    assert v.is_valid({"text": {"text": "a"}, "image": None})  # null is unset in proto3 JSON


@pytest.mark.parametrize(
    "value,valid",
    [
        ("0", True),
        ("-1", True),
        (str(2**63 - 1), True),
        (str(-(2**63)), True),
        (str(2**63), False),
        (str(-(2**63) - 1), False),
        ("1e3", False),
        (" 1", False),
        (7, True),
        (2**63, False),
        (None, True),
    ],
)
def test_int64_schema_is_exactly_the_int64_range(spec, value, valid):
    v = validator(spec, "safegen.v1.GenerateRequest")
    assert v.is_valid({"seed": value}) is valid
