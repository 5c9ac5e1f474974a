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
            [
                ST,
                "run",
                f"{s.base_url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "60",
                "--workers",
                "1",
                "--seed",
                seed,
                "--no-color",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


# --- hypothesis: every route, any body, on the real servicers (cheap model doubles) --------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402

from support.fuzz import http_requests  # noqa: E402

HTTP_BUDGET = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="module")
def real_stack():
    from core.test_fuzz_rpc import NoScores, Solid  # the same doubles as the gRPC fuzz tests
    from safegen.generation.servicer import create_servicer as generation_servicer
    from safegen.image.servicer import create_servicer as image_servicer
    from safegen.policy import GuardrailRegistry
    from safegen.text.backends.local import LocalClassifierBackend
    from safegen.text.servicer import create_servicer as text_servicer
    from support import RedIsUnsafe

    from safegen.serve import SERVICES, build

    registry = GuardrailRegistry.load()
    wiring = build(
        SERVICES,
        registry,
        {},
        prebuilt={
            "text-moderation": text_servicer(registry, {}, backend=LocalClassifierBackend(NoScores())),
            "image-moderation": image_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsUnsafe()),
            "image-generation": generation_servicer(registry, {}, backend=Solid()),
        },
    )
    # As `safegen serve` wires it: the HTTP front calls the data plane in process.
    with run_stack(*wiring.servicers, plane=wiring.plane, max_body_bytes=1 << 20, timeout_seconds=30) as s:
        yield s


@HTTP_BUDGET
@given(http_requests())
def test_http_routes_never_answer_500(real_stack, req):
    method, path, body, headers = req
    status, resp_headers, raw = real_stack.request(method, path, body if method != "GET" else None, headers=headers)
    assert status < 500 or status in (501, 503, 504), (status, raw[:500])
    if status >= 400 and resp_headers.get("content-type", "").startswith("application/json"):
        assert raw.strip(), status  # every refusal says why
