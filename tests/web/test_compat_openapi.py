"""The drop-in routes in /openapi.json: listed, and real responses (verdicts and errors) valid against their schemas."""

from __future__ import annotations

import base64

import pytest
from jsonschema import Draft202012Validator

from safegen.gateway.http.compat_openapi import EXAMPLES
from safegen.gateway.http.openapi import build_spec

from .compat_support import PROFANE, RED_PNG, SEXUAL, real_stack

B64_RED = base64.b64encode(RED_PNG).decode()


@pytest.fixture(scope="module")
def spec():
    return build_spec()


@pytest.fixture(scope="module")
def stack():
    with real_stack() as s:
        yield s


def check(spec: dict, path: str, status: int, body) -> None:
    path = path.split("?")[0]
    if path.startswith("/guardrail/"):
        path = "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply"
    op = spec["paths"][path]["post"]
    response = op["responses"].get(str(status), op["responses"]["default"])
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**spec, **schema}).validate(body)


def test_the_drop_in_routes_are_listed(spec):
    for path in ("/v1/moderations", "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply",
                 "/contentsafety/text:analyze", "/contentsafety/image:analyze", "/contentsafety/text:shieldPrompt"):
        assert "post" in spec["paths"][path], path


def test_examples_are_valid_requests(spec):
    for name, example in EXAMPLES.items():
        Draft202012Validator({**spec, "$ref": f"#/components/schemas/{name}"}).validate(example)


@pytest.mark.parametrize("path,body,status", [
    ("/v1/moderations", {"input": SEXUAL}, 200),
    ("/v1/moderations", {"input": [{"type": "text", "text": PROFANE},
                                   {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_RED}"}}]}, 200),
    ("/v1/moderations", {"input": "x", "model": "nope"}, 404),
    ("/v1/moderations", {"input": 1}, 400),
    ("/guardrail/default/version/DRAFT/apply", {"source": "INPUT", "content": [{"text": {"text": PROFANE}}],
                                                "outputScope": "FULL"}, 200),
    ("/guardrail/default/version/DRAFT/apply", {"source": "OUTPUT", "content": [
        {"image": {"format": "png", "source": {"bytes": B64_RED}}}]}, 200),
    ("/guardrail/nope/version/DRAFT/apply", {"source": "INPUT", "content": [{"text": {"text": "x"}}]}, 404),
    ("/guardrail/default/version/DRAFT/apply", {"source": "INPUT"}, 400),
    ("/contentsafety/text:analyze?api-version=2023-10-01", {"text": PROFANE}, 200),
    ("/contentsafety/image:analyze?api-version=2023-10-01", {"image": {"content": B64_RED}}, 200),
    ("/contentsafety/text:shieldPrompt?api-version=2024-09-01", {"userPrompt": "hi", "documents": ["a"]}, 200),
    ("/contentsafety/text:analyze", {"text": ""}, 400),
])
def test_responses_match_their_schemas(spec, stack, path, body, status):
    got, payload = stack.json("POST", path, body)
    assert got == status, payload
    check(spec, path, got, payload)
