"""Schemathesis against the served OpenAPI: every schema-valid request is accepted, every invalid one
refused with a documented status, every response (SSE events included) matches its schema.

It runs the HTTP layer over the gateway test doubles, so what it fuzzes is this package: the JSON
parsing, the status mapping and the generated schemas agreeing with each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .fakes import FakeGuardrails, FakeSafeGeneration
from .stack import run_stack

pytestmark = pytest.mark.slow

ST = shutil.which("st")


@pytest.mark.skipif(ST is None, reason="schemathesis is not installed (pip install 'schemathesis>=4.32,<5')")
def test_api_conforms_to_its_openapi():
    seed = os.environ.get("SAFEGEN_FUZZ_SEED", "20261123")  # fixed by default: CI must not flake
    with run_stack(FakeSafeGeneration(), FakeGuardrails(), max_body_bytes=1 << 20) as s:
        proc = subprocess.run(
            [ST, "run", f"{s.base_url}/openapi.json", "--checks", "all", "--max-examples", "60",
             "--workers", "1", "--seed", seed, "--no-color", "--phases", "examples,coverage,fuzzing"],
            capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


# --- hypothesis: every route, any body, on the real servicers (cheap model doubles) --------------------

import json as _json  # noqa: E402
import urllib.parse  # noqa: E402

from google.protobuf import json_format  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from safegen.v1 import guardrail_pb2, safe_generation_pb2  # noqa: E402
from support.fuzz import TEXTS, json_values, messages  # noqa: E402

HTTP_BUDGET = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def real_stack():
    from core.test_fuzz_rpc import NoScores, Solid  # the same doubles as the gRPC fuzz tests
    from safegen.gateway.servicer import create_servicers
    from safegen.generation.servicer import create_servicer as generation_servicer
    from safegen.image.servicer import create_servicer as image_servicer
    from safegen.policy import GuardrailRegistry
    from safegen.text.backends.local import LocalClassifierBackend
    from safegen.text.servicer import create_servicer as text_servicer
    from support import RedIsUnsafe

    registry = GuardrailRegistry.load()
    servicers = [text_servicer(registry, {}, backend=LocalClassifierBackend(NoScores())),
                 image_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe()),
                 generation_servicer(registry, {}, backend=Solid()), *create_servicers(registry, {})]
    with run_stack(*servicers, max_body_bytes=1 << 20, timeout_seconds=30) as s:
        yield s


def _proto_json(desc):
    return messages(desc).map(lambda m: json_format.MessageToDict(m))


ROUTES = st.sampled_from([
    ("POST", "/v1/generate", safe_generation_pb2.GenerateRequest.DESCRIPTOR),
    ("POST", "/v1/generate:stream", safe_generation_pb2.StreamGenerateRequest.DESCRIPTOR),
    ("POST", "/v1/apply-guardrail", guardrail_pb2.ApplyGuardrailRequest.DESCRIPTOR),
    ("GET", "/v1/guardrails", None), ("GET", "/healthz", None), ("GET", "/openapi.json", None),
    ("GET", "/static/{name}", None), ("POST", "/v1/moderations", None),
    ("POST", "/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply", None),
    ("POST", "/contentsafety/text:analyze", None), ("POST", "/contentsafety/image:analyze", None),
    ("POST", "/contentsafety/text:shieldPrompt", None),
])


@st.composite
def http_requests(draw):
    method, path, desc = draw(ROUTES)
    for var in ("{name}", "{guardrailIdentifier}", "{guardrailVersion}"):
        if var in path:
            path = path.replace(var, urllib.parse.quote(draw(st.one_of(st.sampled_from(TEXTS[:12]), st.text(max_size=8)))
                                                        or "x", safe=""))
    method = draw(st.one_of(st.just(method), st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])))
    kinds = [json_values().map(lambda v: _json.dumps(v).encode()), st.binary(max_size=64),
             st.sampled_from([b"", b"{", b"[" * 5000 + b"]" * 5000, b'{"prompt": "\\ud800"}', b"\xff\xfe{}"])]
    if desc is not None:
        kinds.append(_proto_json(desc).map(lambda v: _json.dumps(v).encode()))
    body = draw(st.one_of(*kinds))
    ctype = draw(st.sampled_from(["application/json", "application/json", "text/plain", None,
                                  "application/json; charset=latin-1"]))
    return method, path, body, ({"Content-Type": ctype} if ctype else {})


@HTTP_BUDGET
@given(http_requests())
def test_http_routes_never_answer_500(real_stack, req):
    method, path, body, headers = req
    status, resp_headers, raw = real_stack.request(method, path, body if method != "GET" else None, headers=headers)
    assert status < 500 or status in (501, 503, 504), (status, raw[:500])
    if status >= 400 and resp_headers.get("content-type", "").startswith("application/json"):
        assert raw.strip(), status  # every refusal says why
