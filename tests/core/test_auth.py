"""API keys, scopes, per-key rates and shares: the keys file, the Guard, and both doors (gRPC and HTTP) on real servers."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from safegen.core import auth
from safegen.core.auth import Guard, KeyStore, Principal, hash_key, parse_keys
from safegen.core.settings import SettingsError
from safegen.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from safegen.v1 import guardrail_pb2, guardrail_pb2_grpc, safe_generation_pb2 as pb, safe_generation_pb2_grpc
from web.fakes import FakeGuardrails, FakeSafeGeneration
from web.stack import run_stack

GEN = "safegen.v1.SafeGenerationService"
GUARD = "safegen.v1.GuardrailService"


def keys_yaml(*entries: str) -> str:
    return "keys:\n" + "".join(entries)


def entry(kid: str, key: str, services=None, rate=None, max_in_flight=None) -> str:
    out = f"  - id: {kid}\n    sha256: {hash_key(key)}\n"
    if services is not None:
        out += f"    services: [{', '.join(services)}]\n"
    if rate is not None:
        out += f"    rate: {{requests_per_second: {rate[0]}, burst: {rate[1]}}}\n"
    if max_in_flight is not None:
        out += f"    max_in_flight: {max_in_flight}\n"
    return out


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def guard_for(tmp_path: Path, text: str, **kw) -> Guard:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    return Guard(KeyStore(path, check_interval_s=0), **kw)


# --- the keys file ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"key": []}, "one key, `keys:`"),
        ({"keys": [{"id": "a"}]}, "sha256: expected 64 hex digits"),
        ({"keys": [{"id": "a", "sha256": "sk-live-not-a-hash"}]}, "not the key itself"),
        ({"keys": [{"id": "a b", "sha256": "0" * 64}]}, "id: 'a b'"),
        ({"keys": [{"id": "a", "sha256": "0" * 64}, {"id": "a", "sha256": "1" * 64}]}, "used twice"),
        ({"keys": [{"id": "a", "sha256": "0" * 64}, {"id": "b", "sha256": "0" * 64}]}, "same key hash"),
        ({"keys": [{"id": "a", "sha256": "0" * 64, "services": ["safegen.v1.Nope"]}]}, "unknown ['safegen.v1.Nope']"),
        ({"keys": [{"id": "a", "sha256": "0" * 64, "rate": {"requests_per_second": 0}}]}, "requests_per_second: 0"),
        ({"keys": [{"id": "a", "sha256": "0" * 64, "rate": {"requests_per_second": 1, "burst": 0}}]}, "burst: 0"),
        ({"keys": [{"id": "a", "sha256": "0" * 64, "scopes": []}]}, "unknown field(s) ['scopes']"),
        ({"keys": [{"id": "internal", "sha256": "0" * 64}]}, "reserved"),
    ],
)
def test_keys_file_errors_name_the_entry_and_field(doc, message):
    with pytest.raises(SettingsError) as e:
        parse_keys(doc, "keys.yaml")
    assert message in str(e.value) and "keys.yaml" in str(e.value)


def test_missing_keys_file_stops_start():
    with pytest.raises(SettingsError, match="SAFEGEN_API_KEYS_FILE='/nonexistent/keys.yaml': no such file"):
        auth.SecuritySettings.from_env({"SAFEGEN_API_KEYS_FILE": "/nonexistent/keys.yaml"})


def test_without_keys_everyone_is_anonymous_and_one_warning_says_so(caplog):
    with caplog.at_level("WARNING", logger="safegen.auth"):
        g = Guard.from_settings(auth.SecuritySettings())
    assert not g.enabled and g.authenticate(None) == Principal(auth.ANONYMOUS)
    assert [r.getMessage() for r in caplog.records if "UNAUTHENTICATED" in r.getMessage()]


# --- the Guard ------------------------------------------------------------------------------------------


def test_authenticate_checks_the_bearer_key(tmp_path):
    g = guard_for(tmp_path, keys_yaml(entry("alice", "sk-alice")))
    assert g.authenticate("Bearer sk-alice").id == "alice"
    assert g.authenticate("bearer  sk-alice ").id == "alice"
    with pytest.raises(Unauthenticated, match="missing API key"):
        g.authenticate(None)
    with pytest.raises(Unauthenticated, match="invalid API key"):
        g.authenticate("Bearer sk-mallory")
    with pytest.raises(Unauthenticated, match="Bedrock-style clients must send"):
        g.authenticate("AWS4-HMAC-SHA256 Credential=AKIA/20261201/us-east-1/bedrock/aws4_request, Signature=ab")
    with pytest.raises(Unauthenticated, match="unsupported authorization scheme 'Basic'"):
        g.authenticate("Basic YWxpY2U6c2VjcmV0")
    assert g.authenticate(g.internal_authorization).internal


def test_scopes_and_rate_and_share(tmp_path):
    clock = Clock()
    g = guard_for(
        tmp_path,
        keys_yaml(entry("gen", "k1", services=[GEN], rate=(2, 3), max_in_flight=2), entry("other", "k2")),
        clock=clock,
    )
    p = g.authenticate("Bearer k1")
    with pytest.raises(PermissionDenied, match=f"'gen' may not call {GUARD}; it may call: {GEN}"):
        g.admit(p, GUARD)
    a1, a2 = g.admit(p, GEN), g.admit(p, GEN)
    with pytest.raises(ResourceExhausted, match="already has 2 calls in flight") as e:
        g.admit(p, GEN)
    assert e.value.retry_after_s == 1.0
    a1.release(), a2.release()
    a1.release()  # releasing twice gives back nothing twice
    g.admit(p, GEN).release()  # the burst of 3 is now spent (3 admitted)
    with pytest.raises(ResourceExhausted, match=r"rate limit of API key 'gen' exceeded \(2 requests/s, burst 3\)") as e:
        g.admit(p, GEN)
    assert e.value.retry_after_s == pytest.approx(0.5)
    other = g.authenticate("Bearer k2")
    for _ in range(50):  # another key's budget is its own
        g.admit(other, GUARD).release()
    clock.t += 0.5
    g.admit(p, GEN).release()


def test_service_concurrency_cap_counts_outside_callers_only(tmp_path):
    g = Guard(None, max_concurrent_rpcs=2)
    anon = g.authenticate(None)
    held = [g.admit(anon, GEN), g.admit(anon, GEN)]
    with pytest.raises(ResourceExhausted, match=f"{GEN} is at its limit of 2 concurrent calls"):
        g.admit(anon, GEN)
    g.admit(anon, GUARD).release()  # per service
    g.admit(g.authenticate(g.internal_authorization), GEN).release()  # this process calling itself
    for a in held:
        a.release()
    g.admit(anon, GEN).release()


def test_keys_file_reloads_on_secret_rotation(tmp_path, caplog):
    # Kubernetes mounts a Secret as keys.yaml -> ..data/keys.yaml, ..data -> ..2026_12_01_v1; rotation
    # writes a new directory and swaps ..data atomically.
    v1 = tmp_path / "..v1"
    v1.mkdir()
    (v1 / "keys.yaml").write_text(keys_yaml(entry("old", "sk-old")))
    (tmp_path / "..data").symlink_to(v1.name)
    (tmp_path / "keys.yaml").symlink_to("..data/keys.yaml")
    g = Guard(KeyStore(tmp_path / "keys.yaml", check_interval_s=0))
    assert g.authenticate("Bearer sk-old").id == "old"
    v2 = tmp_path / "..v2"
    v2.mkdir()
    (v2 / "keys.yaml").write_text(keys_yaml(entry("new", "sk-new")))
    tmp = tmp_path / "..data_tmp"
    tmp.symlink_to(v2.name)
    os.replace(tmp, tmp_path / "..data")
    assert g.authenticate("Bearer sk-new").id == "new"
    with pytest.raises(Unauthenticated):
        g.authenticate("Bearer sk-old")
    # A broken file keeps the keys we had, and says why.
    v3 = tmp_path / "..v3"
    v3.mkdir()
    (v3 / "keys.yaml").write_text("keys: [ {id: x")
    tmp.symlink_to(v3.name)
    with caplog.at_level("WARNING", logger="safegen.auth"):
        os.replace(tmp, tmp_path / "..data")
        assert g.authenticate("Bearer sk-new").id == "new"
    assert "was not loaded, keeping 1 previous key(s)" in caplog.text


# --- over gRPC and HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def keyed(tmp_path, monkeypatch):
    """The process guard replaced by one with three keys: full, scoped to GuardrailService, rate-limited."""
    g = guard_for(
        tmp_path,
        keys_yaml(
            entry("full", "sk-full"),
            entry("guard-only", "sk-guard", services=[GUARD]),
            entry("slow", "sk-slow", rate=(0.01, 1)),
        ),
    )
    monkeypatch.setattr(auth, "_process_guard", g)
    return g


def _md(key):
    return (("authorization", f"Bearer {key}"),) if key else ()


def test_grpc_statuses_for_missing_wrong_scoped_and_limited_keys(keyed):
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
            gen = safe_generation_pb2_grpc.SafeGenerationServiceStub(ch)
            guard = guardrail_pb2_grpc.GuardrailServiceStub(ch)
            health = health_pb2_grpc.HealthStub(ch)
            req = pb.GenerateRequest(prompt="a cat")
            # Health stays open: probes have no key.
            assert (
                health.Check(health_pb2.HealthCheckRequest(service=GEN)).status
                == health_pb2.HealthCheckResponse.SERVING
            )
            for key, code, text in [
                (None, grpc.StatusCode.UNAUTHENTICATED, "missing API key"),
                ("sk-wrong", grpc.StatusCode.UNAUTHENTICATED, "invalid API key"),
                ("sk-guard", grpc.StatusCode.PERMISSION_DENIED, f"may not call {GEN}"),
            ]:
                with pytest.raises(grpc.RpcError) as e:
                    gen.Generate(req, metadata=_md(key), timeout=10)
                assert e.value.code() == code and text in e.value.details()
                assert "sk-" not in e.value.details()  # the key is never echoed
            assert gen.Generate(req, metadata=_md("sk-full"), timeout=10).attempts == 1
            guard.ListGuardrails(guardrail_pb2.ListGuardrailsRequest(), metadata=_md("sk-guard"), timeout=10)
            guard.ListGuardrails(guardrail_pb2.ListGuardrailsRequest(), metadata=_md("sk-slow"), timeout=10)
            with pytest.raises(grpc.RpcError) as e:
                guard.ListGuardrails(guardrail_pb2.ListGuardrailsRequest(), metadata=_md("sk-slow"), timeout=10)
            assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert dict(e.value.trailing_metadata())["retry-after"] == "100"
            # Streams are admitted the same way, before their first message.
            with pytest.raises(grpc.RpcError) as e:
                next(iter(gen.StreamGenerate(pb.StreamGenerateRequest(prompt="a cat"), timeout=10)))
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_grpc_key_metric_carries_the_id_not_the_key(keyed):
    from prometheus_client import REGISTRY

    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
            guardrail_pb2_grpc.GuardrailServiceStub(ch).ListGuardrails(
                guardrail_pb2.ListGuardrailsRequest(), metadata=_md("sk-full"), timeout=10
            )
    value = REGISTRY.get_sample_value(
        "safegen_api_key_requests_total", {"key_id": "full", "grpc_service": GUARD, "grpc_code": "OK"}
    )
    assert value and value >= 1
    from prometheus_client import generate_latest

    assert b"sk-full" not in generate_latest(REGISTRY)


def test_http_statuses_and_forwarded_identity(keyed):
    body = {"prompt": "a cat"}
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        status, headers, raw = s.request("POST", "/v1/generate", body)
        assert status == 401 and b"missing API key" in raw and headers["www-authenticate"].startswith("Bearer")
        status, _, raw = s.request("POST", "/v1/generate", body, headers={"Authorization": "Bearer nope"})
        assert status == 401 and b"invalid API key" in raw
        status, _, raw = s.request(
            "POST", "/v1/generate", body, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=00"}
        )
        assert status == 401 and b"Authorization: Bearer" in raw
        status, _, raw = s.request("POST", "/v1/generate", body, headers={"Authorization": "Bearer sk-guard"})
        assert status == 403 and b"may not call safegen.v1.SafeGenerationService" in raw
        status, _, _ = s.request("POST", "/v1/generate", body, headers={"Authorization": "Bearer sk-full"})
        assert status == 200
        status, _, _ = s.request("GET", "/v1/guardrails", headers={"Authorization": "Bearer sk-slow"})
        assert status == 200
        status, headers, raw = s.request("GET", "/v1/guardrails", headers={"Authorization": "Bearer sk-slow"})
        assert status == 429 and headers["retry-after"] == "100" and b"rate limit of API key 'slow'" in raw
        # Probes, the schema and the page stay open.
        assert s.request("GET", "/healthz")[0] == 200
        assert s.request("GET", "/openapi.json")[0] == 200
        assert s.request("GET", "/")[0] == 200
        # The drop-in APIs are behind the same keys, scoped as ApplyGuardrail.
        assert s.request("POST", "/v1/moderations", {"input": "hi"})[0] == 401
        assert (
            s.request("POST", "/v1/moderations", {"input": "hi"}, headers={"Authorization": "Bearer sk-guard"})[0]
            == 200
        )
        # A route nobody declared is still behind the key (new routes are covered automatically).
        assert s.request("POST", "/v1/not-a-route", body)[0] == 401
        assert s.request("POST", "/v1/not-a-route", body, headers={"Authorization": "Bearer sk-full"})[0] == 404
        # ...and a key limited to some services may not use a route that maps to none (it could reach anything).
        status, _, raw = s.request("POST", "/v1/not-a-route", body, headers={"Authorization": "Bearer sk-guard"})
        assert status == 403 and b"is not mapped to one" in raw


def test_internal_token_cannot_widen_a_forwarded_keys_scope(keyed):
    # The HTTP front forwards with this process's token plus the key id; the interceptor still applies
    # the key's scope (for routes the HTTP table does not know).
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:
            gen = safe_generation_pb2_grpc.SafeGenerationServiceStub(ch)
            md = (("authorization", keyed.internal_authorization), ("x-safegen-key-id", "guard-only"))
            with pytest.raises(grpc.RpcError) as e:
                gen.Generate(pb.GenerateRequest(prompt="a cat"), metadata=md, timeout=10)
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
            md = (("authorization", "Bearer forged-internal"), ("x-safegen-key-id", "full"))
            with pytest.raises(grpc.RpcError) as e:
                gen.Generate(pb.GenerateRequest(prompt="a cat"), metadata=md, timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_client_commands_send_safegen_api_key(keyed):
    from safegen.core.clientauth import client_channel

    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        target = f"127.0.0.1:{s.grpc_port}"
        req = guardrail_pb2.ListGuardrailsRequest()
        with client_channel(target, env={"SAFEGEN_API_KEY": "sk-full"}) as ch:
            guardrail_pb2_grpc.GuardrailServiceStub(ch).ListGuardrails(req, timeout=10)
            next(
                iter(
                    safe_generation_pb2_grpc.SafeGenerationServiceStub(ch).StreamGenerate(
                        pb.StreamGenerateRequest(prompt="a cat"), timeout=10
                    )
                )
            )
        with client_channel(target, env={}) as ch:
            with pytest.raises(grpc.RpcError) as e:
                guardrail_pb2_grpc.GuardrailServiceStub(ch).ListGuardrails(req, timeout=10)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
