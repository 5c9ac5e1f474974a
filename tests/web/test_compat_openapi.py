"""The drop-in routes in /openapi.json: listed, and real responses (verdicts and errors) valid against their schemas."""

from __future__ import annotations

import base64
import itertools
import random
import re

import pytest
from jsonschema import Draft202012Validator

from safegen.gateway.http.compat import BASE64, CompatError, anchored, decode_base64
from safegen.gateway.http.compat_openapi import EXAMPLES
from safegen.gateway.http.openai_compat import DATA_URL, decode_data_url
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
    for path in (
        "/v1/moderations",
        "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply",
        "/contentsafety/text:analyze",
        "/contentsafety/image:analyze",
        "/contentsafety/text:shieldPrompt",
    ):
        assert "post" in spec["paths"][path], path


def test_examples_are_valid_requests(spec):
    for name, example in EXAMPLES.items():
        Draft202012Validator({**spec, "$ref": f"#/components/schemas/{name}"}).validate(example)


@pytest.mark.parametrize(
    "path,body,status",
    [
        ("/v1/moderations", {"input": SEXUAL}, 200),
        (
            "/v1/moderations",
            {
                "input": [
                    {"type": "text", "text": PROFANE},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_RED}"}},
                ]
            },
            200,
        ),
        ("/v1/moderations", {"input": "x", "model": "nope"}, 404),
        ("/v1/moderations", {"input": 1}, 400),
        (
            "/guardrail/default/version/DRAFT/apply",
            {"source": "INPUT", "content": [{"text": {"text": PROFANE}}], "outputScope": "FULL"},
            200,
        ),
        (
            "/guardrail/default/version/DRAFT/apply",
            {"source": "OUTPUT", "content": [{"image": {"format": "png", "source": {"bytes": B64_RED}}}]},
            200,
        ),
        ("/guardrail/nope/version/DRAFT/apply", {"source": "INPUT", "content": [{"text": {"text": "x"}}]}, 404),
        ("/guardrail/default/version/DRAFT/apply", {"source": "INPUT"}, 400),
        ("/contentsafety/text:analyze?api-version=2023-10-01", {"text": PROFANE}, 200),
        ("/contentsafety/image:analyze?api-version=2023-10-01", {"image": {"content": B64_RED}}, 200),
        ("/contentsafety/text:shieldPrompt?api-version=2024-09-01", {"userPrompt": "hi", "documents": ["a"]}, 200),
        ("/contentsafety/text:analyze", {"text": ""}, 400),
    ],
)
def test_responses_match_their_schemas(spec, stack, path, body, status):
    got, payload = stack.json("POST", path, body)
    assert got == status, payload
    check(spec, path, got, payload)


def _accepted(fn, value) -> bool:
    try:
        fn(value, "x")
        return True
    except CompatError:
        return False


def test_base64_check_accepts_exactly_what_the_published_pattern_matches():
    # The schema's regex is what schemathesis and other clients check; the code decodes at C speed.
    pattern = re.compile(anchored(BASE64))
    rng = random.Random(7)
    alphabet = "Ab+/=\n -_\u00e9"
    samples = ["".join(t) for n in range(6) for t in itertools.product(alphabet, repeat=n)]
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randint(6, 14))) for _ in range(20_000)]
    for s in samples:
        assert _accepted(decode_base64, s) == bool(pattern.search(s)), repr(s)  # search: as jsonschema does
    url = re.compile(anchored(DATA_URL))
    for s in (
        "data:image/png;base64,AAAA",
        "data:image/jpg;base64,AA==",
        "data:image/png;base64,",
        "data:image/gif;base64,AAAA",
        "data:image/png;base64,AAA",
        "DATA:image/png;base64,AAAA",
        "data:image/png;base64,AAAA\n",
    ):
        assert _accepted(decode_data_url, s) == bool(url.search(s)), s


def test_version_pattern_matches_what_the_parser_accepts(spec):
    from safegen.gateway.http import bedrock_compat as bc

    params = spec["paths"][bc.PATH]["post"]["parameters"]
    pattern = re.compile(next(p for p in params if p["name"] == "guardrailVersion")["schema"]["pattern"])
    for v in ("DRAFT", "1", "12345678", "DRAFT\n", "0", "123456789", "draft", "1\n", " 1"):
        try:
            bc.parse_request("default", v, {"source": "INPUT", "content": [{"text": {"text": "a"}}]})
            ok = True
        except CompatError:
            ok = False
        assert ok == bool(pattern.search(v)), repr(v)


@pytest.mark.parametrize(
    "path,shape",
    [
        ("/v1/moderations", lambda b: b["error"]["type"] == "invalid_request_error"),
        ("/guardrail/default/version/DRAFT/apply", lambda b: b["__type"] == "ValidationException"),
        ("/contentsafety/text:analyze", lambda b: b["error"]["code"] == "RequestTooLarge"),
    ],
)
def test_an_oversized_body_is_refused_before_it_is_sent_in_the_apis_shape(stack, path, shape):
    import json
    import socket

    sock = socket.create_connection(("127.0.0.1", stack.http_port), timeout=10)
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**12}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        raw = b""
        while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    finally:
        sock.close()
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert shape(json.loads(body)) and b"larger than the limit" in body
