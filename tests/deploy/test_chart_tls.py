"""The chart's TLS and API-key values: Secrets mounted, settings set, probes through the loopback port."""

from __future__ import annotations

import pytest

from deploy_helpers import CHART, documents, render
from test_chart import by_kind

pytestmark = pytest.mark.tools


def test_tls_scenario_mounts_the_secrets_and_probes_through_the_loopback_port(helm):
    docs = by_kind(documents(render(helm, CHART / "ci" / "tls-keys-values.yaml")), "Deployment")
    for name, d in docs.items():
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["SAFEGEN_TLS_CERT_FILE"] == "/etc/safegen/tls/tls.crt"
        assert env["SAFEGEN_TLS_CLIENT_CA_FILE"] == "/etc/safegen/tls/ca.crt"
        assert env["SAFEGEN_API_KEYS_FILE"] == "/etc/safegen/keys/keys.yaml"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "safegen-tls"
        assert volumes["api-keys"]["secret"]["secretName"] == "safegen-api-keys"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            cmd = c[probe]["exec"]["command"]
            assert cmd[:3] == ["safegen", "health", "--target=127.0.0.1:50061"], (name, probe, cmd)
            assert c[probe]["timeoutSeconds"] >= 5 if probe != "startupProbe" else True
    gw = docs["safegen-gateway"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in gw["env"]}
    assert env["SAFEGEN_BACKEND_TLS_CA_FILE"]["value"] == "/etc/safegen/tls/ca.crt"
    assert env["SAFEGEN_BACKEND_TLS_CERT_FILE"]["value"] == "/etc/safegen/tls/tls.crt"
    assert env["SAFEGEN_BACKEND_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "safegen-gateway-key",
        "key": "backend-key",
    }
    # Without TLS the kubelet's native gRPC probes stay.
    plain = by_kind(documents(render(helm)), "Deployment")["safegen-gateway"]
    assert "grpc" in plain["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
