"""`safegen serve` as a real process with TLS and API keys: the wiring from settings to both doors, the loopback
port the exec probes use, and settings errors that stop the start."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import sys

import grpc
import pytest

from safegen.core.auth import hash_key
from safegen.core.clientauth import client_channel
from safegen.v1 import guardrail_pb2, guardrail_pb2_grpc
from support import ServeProcess, stop_processes

from core.test_tls import Pki, write_secret

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gateway_process_serves_tls_and_keys_on_both_doors(tmp_path):
    pki = Pki()
    secret = tmp_path / "tls"
    secret.mkdir()
    write_secret(secret, pki, "gateway")
    (tmp_path / "keys.yaml").write_text(f"keys:\n  - id: ops\n    sha256: {hash_key('sk-ops')}\n")
    loopback = free_port()
    env = {
        "SAFEGEN_TLS_CERT_FILE": str(secret / "tls.crt"),
        "SAFEGEN_TLS_KEY_FILE": str(secret / "tls.key"),
        "SAFEGEN_API_KEYS_FILE": str(tmp_path / "keys.yaml"),
        "SAFEGEN_LOOPBACK_PORT": str(loopback),
    }
    sp = ServeProcess(tmp_path, "gateway", "--http-port", "0", env=env)
    try:
        ready = sp.wait_ready(180)
        tls_env = {"SAFEGEN_TARGET_CA_FILE": str(secret / "ca.crt")}
        req = guardrail_pb2.ListGuardrailsRequest()
        with client_channel(f"localhost:{ready['port']}", env=tls_env) as ch:
            with pytest.raises(grpc.RpcError) as e:
                guardrail_pb2_grpc.GuardrailServiceStub(ch).ListGuardrails(req, timeout=20)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with client_channel(f"localhost:{ready['port']}", env={**tls_env, "SAFEGEN_API_KEY": "sk-ops"}) as ch:
            assert guardrail_pb2_grpc.GuardrailServiceStub(ch).ListGuardrails(req, timeout=20).guardrails
        # HTTPS on the HTTP port: /healthz is open and reaches the gateway through the loopback port.
        ctx = ssl.create_default_context(cadata=pki.ca_pem.decode())
        conn = http.client.HTTPSConnection("localhost", ready["http_port"], context=ctx, timeout=30)
        for path, headers in (("/healthz", {}), ("/v1/guardrails", {"Authorization": "Bearer sk-ops"})):
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            assert (resp.status, path) == (200, path), resp.read()
            resp.read()
        conn.close()
        # What the chart's exec probes run: plaintext to the loopback port, no key needed for health.
        probe = subprocess.run(
            [
                sys.executable,
                "-m",
                "safegen.cli",
                "health",
                f"--target=127.0.0.1:{loopback}",
                "--service=safegen.v1.GuardrailService",
                "--timeout=20",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=os.environ,
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
    finally:
        stop_processes([sp.proc])


def test_a_missing_certificate_stops_the_start_naming_the_variable(tmp_path):
    env = {
        **os.environ,
        "SAFEGEN_TLS_CERT_FILE": str(tmp_path / "nope.crt"),
        "SAFEGEN_TLS_KEY_FILE": str(tmp_path / "nope.key"),
    }
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "safegen.cli",
            "serve",
            "gateway",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--http-port",
            "-1",
            "--host",
            "127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 2, p.stdout + p.stderr
    assert "SAFEGEN_TLS_CERT_FILE=" in p.stderr and "cannot read" in p.stderr
