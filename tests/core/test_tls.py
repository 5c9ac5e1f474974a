"""TLS on gRPC and HTTP from one certificate pair, mTLS, reload on rotation, and settings that stop the start."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import socket
import ssl
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from safegen.core import tls  # noqa: E402
from safegen.core.settings import SettingsError  # noqa: E402
from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc  # noqa: E402
from web.fakes import FakeGuardrails, FakeSafeGeneration  # noqa: E402
from web.stack import run_stack  # noqa: E402


def _name(cn: str):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Pki:
    """A CA and certificates it signs, as cert-manager writes them: tls.crt, tls.key, ca.crt."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("test-ca"))
            .issuer_name(_name("test-ca"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def write_secret(directory: Path, pki: Pki, cn: str) -> None:
    """Writes a Secret's files the way the kubelet does: a fresh directory, then an atomic ..data swap."""
    cert, key = pki.issue(cn)
    version = directory / f"..{cn}"
    version.mkdir()
    (version / "tls.crt").write_bytes(cert)
    (version / "tls.key").write_bytes(key)
    (version / "ca.crt").write_bytes(pki.ca_pem)
    tmp = directory / "..data_tmp"
    tmp.symlink_to(version.name)
    os.replace(tmp, directory / "..data")
    for name in ("tls.crt", "tls.key", "ca.crt"):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


@pytest.fixture
def pki():
    return Pki()


@pytest.fixture
def secret(tmp_path, pki):
    write_secret(tmp_path, pki, "server-v1")
    return tmp_path


def use_tls(monkeypatch, env: dict[str, str]):
    s = tls.TlsSettings.from_env(env)
    monkeypatch.setattr(tls, "_process", (s, tls.ServerTls(s) if s.enabled else None))
    return s


def peer_cn(
    port: int, pki: Pki, client: tuple[bytes, bytes] | None = None, tmp: Path | None = None, alpn: str = "h2"
) -> str:
    """The CN of the certificate the server presents on a new connection."""
    ctx = ssl.create_default_context(cadata=pki.ca_pem.decode())
    ctx.set_alpn_protocols([alpn])
    if client is not None:
        (tmp / "c.crt").write_bytes(client[0])
        (tmp / "c.key").write_bytes(client[1])
        ctx.load_cert_chain(tmp / "c.crt", tmp / "c.key")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return dict(x[0] for x in s.getpeercert()["subject"])["commonName"]


def _health(channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status


# --- settings -----------------------------------------------------------------------------------------


def test_settings_errors_stop_the_start(tmp_path, secret):
    (tmp_path / "plain.txt").write_text("not a certificate")
    cert, key = str(secret / "tls.crt"), str(secret / "tls.key")
    other_key = tmp_path / "other.key"
    other_key.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))
    for env, message in [
        ({"SAFEGEN_TLS_CERT_FILE": cert}, "must be set together"),
        (
            {"SAFEGEN_TLS_CERT_FILE": cert, "SAFEGEN_TLS_KEY_FILE": "/nope/tls.key"},
            "SAFEGEN_TLS_KEY_FILE='/nope/tls.key': cannot read",
        ),
        ({"SAFEGEN_TLS_CERT_FILE": str(tmp_path / "plain.txt"), "SAFEGEN_TLS_KEY_FILE": key}, "not a PEM file"),
        ({"SAFEGEN_TLS_CERT_FILE": cert, "SAFEGEN_TLS_KEY_FILE": str(other_key)}, "not a usable pair"),
        ({"SAFEGEN_TLS_CLIENT_CA_FILE": str(secret / "ca.crt")}, "needs SAFEGEN_TLS_CERT_FILE"),
        (
            {"SAFEGEN_BACKEND_TLS_CERT_FILE": cert, "SAFEGEN_BACKEND_TLS_KEY_FILE": key},
            "needs SAFEGEN_BACKEND_TLS_CA_FILE",
        ),
    ]:
        with pytest.raises(SettingsError) as e:
            tls.TlsSettings.from_env(env)
        assert message in str(e.value), env


# --- gRPC and HTTP on the same certificate --------------------------------------------------------------


def test_grpc_and_http_share_the_certificate_and_reload_it(monkeypatch, secret, pki, tmp_path):
    use_tls(
        monkeypatch, {"SAFEGEN_TLS_CERT_FILE": str(secret / "tls.crt"), "SAFEGEN_TLS_KEY_FILE": str(secret / "tls.key")}
    )
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_pem)
        with grpc.secure_channel(f"localhost:{s.grpc_port}", creds) as ch:
            assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
            r = safe_generation_pb2_grpc.SafeGenerationServiceStub(ch).Generate(
                pb.GenerateRequest(prompt="a cat"), timeout=10
            )
            assert r.attempts == 1
        from safegen.core.clientauth import client_channel  # what `safegen health` & co. use

        with client_channel(f"localhost:{s.grpc_port}", env={"SAFEGEN_TARGET_CA_FILE": str(secret / "ca.crt")}) as ch:
            assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
        with grpc.insecure_channel(f"127.0.0.1:{s.grpc_port}") as ch:  # plaintext to a TLS port fails
            with pytest.raises(grpc.RpcError) as e:
                _health(ch)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        # HTTPS on the HTTP port, forwarding to the gateway through the loopback port.
        ctx = ssl.create_default_context(cadata=pki.ca_pem.decode())
        conn = http.client.HTTPSConnection("localhost", s.http_port, context=ctx, timeout=30)
        conn.request("POST", "/v1/generate", body=b'{"prompt": "a cat"}', headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        assert peer_cn(s.grpc_port, pki) == peer_cn(s.http_port, pki, alpn="http/1.1") == "server-v1"
        # Rotation: the next handshakes present the new certificate, without a restart.
        write_secret(secret, pki, "server-v2")
        assert peer_cn(s.grpc_port, pki) == "server-v2"
        assert peer_cn(s.http_port, pki, alpn="http/1.1") == "server-v2"


def test_mtls_requires_a_client_certificate_from_the_ca(monkeypatch, secret, pki, tmp_path):
    use_tls(
        monkeypatch,
        {
            "SAFEGEN_TLS_CERT_FILE": str(secret / "tls.crt"),
            "SAFEGEN_TLS_KEY_FILE": str(secret / "tls.key"),
            "SAFEGEN_TLS_CLIENT_CA_FILE": str(secret / "ca.crt"),
        },
    )
    client_cert, client_key = pki.issue("client")
    stranger_cert, stranger_key = Pki().issue("stranger")
    with run_stack(FakeSafeGeneration(), FakeGuardrails()) as s:
        for cert, key, ok in [
            (None, None, False),
            (stranger_cert, stranger_key, False),
            (client_cert, client_key, True),
        ]:
            creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_pem, private_key=key, certificate_chain=cert)
            with grpc.secure_channel(f"localhost:{s.grpc_port}", creds) as ch:
                if ok:
                    assert _health(ch) == health_pb2.HealthCheckResponse.SERVING
                else:
                    with pytest.raises(grpc.RpcError) as e:
                        _health(ch)
                    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        ctx = ssl.create_default_context(cadata=pki.ca_pem.decode())
        conn = http.client.HTTPSConnection("localhost", s.http_port, context=ctx, timeout=30)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        conn.close()
        (tmp_path / "c.crt").write_bytes(client_cert)
        (tmp_path / "c.key").write_bytes(client_key)
        ctx.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
        conn = http.client.HTTPSConnection("localhost", s.http_port, context=ctx, timeout=30)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()


def test_gateway_backend_channels_use_tls_settings(monkeypatch, secret, pki):
    # A backend served with TLS; the gateway's Backends reach it with SAFEGEN_BACKEND_TLS_* (split mode).
    from safegen.core.types import Source
    from safegen.gateway.clients import GrpcBackends
    from safegen.gateway.values import Pin
    from safegen.policy import GuardrailRegistry
    from support import running_server
    from safegen.v1 import text_moderation_pb2, text_moderation_pb2_grpc

    class Echo(text_moderation_pb2_grpc.TextModerationServiceServicer):
        async def ModerateText(self, request, context):
            return text_moderation_pb2.ModerateTextResponse(guardrail_id="tls-ok")

    use_tls(
        monkeypatch,
        {
            "SAFEGEN_TLS_CERT_FILE": str(secret / "tls.crt"),
            "SAFEGEN_TLS_KEY_FILE": str(secret / "tls.key"),
            "SAFEGEN_BACKEND_TLS_CA_FILE": str(secret / "ca.crt"),
            "SAFEGEN_BACKEND_TLS_SERVER_NAME": "localhost",
        },
    )

    async def call(port):
        b = GrpcBackends(f"127.0.0.1:{port}", "", "")
        try:
            return await b.moderate_text("hi", Source.INPUT, Pin(GuardrailRegistry.load().get()))
        finally:
            await b.aclose()

    import asyncio

    with running_server(Echo()) as (port, _):
        assert asyncio.run(call(port)).guardrail_id == "tls-ok"
