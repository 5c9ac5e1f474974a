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
