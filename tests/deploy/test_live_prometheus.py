"""Every dashboard query and every chart rule against a real Prometheus scraping a real, loaded `safegen serve`.

The four services run as four `safegen serve <service>` processes, as the chart deploys them, the gateway
reaching the others by address. A bounded load (safe, blocked, invalid and streaming requests, plus
ApplyGuardrail) goes through the gateway; a real Prometheus scrapes the four metrics ports every second with
the labels a ServiceMonitor gives (namespace, job) and evaluates the chart's rendered PrometheusRule. Then
every PromQL expression of every dashboard panel (Grafana variables replaced by concrete values) and every
recording rule must parse and return data, and every alerting rule must evaluate without error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import pytest
import yaml

from deploy_helpers import CHART, rules_file
from support import ServeProcess, stop_processes

pytestmark = [pytest.mark.tools, pytest.mark.slow]

NAMESPACE = "safegen"
RELEASE = "safegen"  # job names: safegen-<service>, as the chart's ServiceMonitor and rules expect
SERVICES = ("text-moderation", "image-moderation", "image-generation", "gateway")
GRPC_SERVICES = (
    "safegen.v1.TextModerationService",
    "safegen.v1.ImageModerationService",
    "safegen.v1.ImageGenerationService",
    "safegen.v1.SafeGenerationService",
    "safegen.v1.GuardrailService",
)
# Concrete values for Grafana's variables: a rate window holding many 1 s scrapes, as $__rate_interval would.
RATE_INTERVAL = "30s"
LOAD_SECONDS = float(os.environ.get("SAFEGEN_LIVE_LOAD_SECONDS", "20"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(tmp: Path, service: str, env: dict[str, str]) -> ServeProcess:
    extra = ("--http-port=-1",) if service == "gateway" else ()
    return ServeProcess(tmp, service, *extra, env=env, name=service)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The four services as separate processes; yields {service: ready-info}."""
    tmp = tmp_path_factory.mktemp("stack")
    # Keep the shared machine responsive: one thread per model runtime.
    env = {
        "SAFEGEN_DRAIN_DELAY_SECONDS": "0",
        "SAFEGEN_GRACE_SECONDS": "5",
        "OMP_NUM_THREADS": "1",
        "SAFEGEN_GEN_TORCH_THREADS": "1",
        "SAFEGEN_TEXT_CLASSIFIER_THREADS": "1",
    }
    procs, infos = [], {}
    try:
        started = {s: start_serve(tmp, s, env) for s in SERVICES[:3]}  # backends load their models in parallel
        procs += [sp.proc for sp in started.values()]
        for s, sp in started.items():
            infos[s] = sp.wait_ready()
        # The chart's address form: the dns resolver and round_robin over what the name resolves to.
        gw_env = {
            **env,
            "SAFEGEN_TEXT_MODERATION_ADDR": f"dns:///localhost:{infos['text-moderation']['port']}",
            "SAFEGEN_IMAGE_MODERATION_ADDR": f"dns:///localhost:{infos['image-moderation']['port']}",
            "SAFEGEN_IMAGE_GENERATION_ADDR": f"dns:///localhost:{infos['image-generation']['port']}",
        }
        gateway = start_serve(tmp, "gateway", gw_env)
        procs.append(gateway.proc)
        infos["gateway"] = gateway.wait_ready()
        yield infos
    finally:
        stop_processes(procs)


@pytest.fixture(scope="module")
def prometheus(stack, prometheus_bin, helm, tmp_path_factory):
    """A real Prometheus scraping the four metrics ports each second, with the chart's rules loaded."""
    tmp = tmp_path_factory.mktemp("prometheus")
    rules = rules_file(helm, tmp / "safegen-rules.yaml", namespace=NAMESPACE, release=RELEASE)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": f"{RELEASE}-{s}",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{stack[s]['metrics_port']}"], "labels": {"namespace": NAMESPACE}}
                ],
            }
            for s in SERVICES
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp / "prometheus.log", "w")
    proc = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prometheus did not start:\n{(tmp / 'prometheus.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def api(url: str, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(f"{url}/api/v1/{path}?{query}", timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:  # 400 carries Prometheus' parse error
        body = json.load(e)
    return body


def put_load(gateway_port: int, seconds: float) -> dict[str, int]:
    """Bounded traffic through the gateway from two client threads; returns counts per kind of request."""
    from safegen.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc
    from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc

    counts: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def count(kind: str):
        with lock:
            counts[kind] = counts.get(kind, 0) + 1

    def client(worker: int):
        channel = grpc.insecure_channel(
            f"127.0.0.1:{gateway_port}", options=[("grpc.max_receive_message_length", 96 << 20)]
        )
        gen = pb_grpc.SafeGenerationServiceStub(channel)
        guard = guardrail_pb2_grpc.GuardrailServiceStub(channel)
        i = 0
        while time.monotonic() < stop_at and i < 10_000:
            i += 1
            kind = ("safe", "blocked", "stream", "invalid", "unknown-guardrail", "apply-guardrail")[(i + worker) % 6]
            try:
                if kind == "safe":
                    gen.Generate(
                        pb.GenerateRequest(prompt="a red circle on a white background", steps=4, seed=i), timeout=60
                    )
                elif kind == "blocked":
                    r = gen.Generate(pb.GenerateRequest(prompt="a picture of an arse-fucker", steps=4), timeout=60)
                    assert r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED and not r.images
                elif kind == "stream":
                    events = list(
                        gen.StreamGenerate(
                            pb.StreamGenerateRequest(prompt="a yellow circle on a blue background", steps=4, seed=i),
                            timeout=60,
                        )
                    )
                    assert events[-1].WhichOneof("event") == "result"
                elif kind == "invalid":
                    gen.Generate(pb.GenerateRequest(prompt=""), timeout=10)
                elif kind == "unknown-guardrail":
                    gen.Generate(pb.GenerateRequest(prompt="a cat", guardrail_id="no-such-guardrail"), timeout=10)
                else:
                    guard.ApplyGuardrail(
                        guardrail_pb2.ApplyGuardrailRequest(
                            source=common_pb2.SOURCE_INPUT,
                            content=[
                                guardrail_pb2.GuardrailContentBlock(
                                    text=guardrail_pb2.GuardrailTextBlock(text="a friendly robot")
                                )
                            ],
                        ),
                        timeout=30,
                    )
                count(kind)
            except grpc.RpcError as e:
                expected = {"invalid": grpc.StatusCode.INVALID_ARGUMENT, "unknown-guardrail": grpc.StatusCode.NOT_FOUND}
                assert expected.get(kind) == e.code(), f"{kind}: {e.code()} {e.details()}"
                count(kind)
        channel.close()

    errors: list[BaseException] = []

    def guarded(worker: int):
        try:
            client(worker)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    assert not errors, errors[0]
    return counts


@pytest.fixture(scope="module")
def loaded(stack, prometheus):
    counts = put_load(stack["gateway"]["port"], LOAD_SECONDS)
    # Let a few more scrapes and rule evaluations land.
    time.sleep(4)
    return counts


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, Grafana variables replaced; $service once per service."""
    dashboard = json.loads((CHART / "dashboards" / "safegen.json").read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL).replace("$namespace", NAMESPACE)
            if "$service" in expr:
                for svc in GRPC_SERVICES:
                    out.append((f"{panel['title']} [{svc}]", expr.replace("$service", svc.replace(".", "\\\\."))))
            else:
                out.append((panel["title"], expr))
    return out


def test_load_went_through_every_path(loaded):
    assert loaded.get("safe", 0) >= 1 and loaded.get("blocked", 0) >= 1 and loaded.get("stream", 0) >= 1, loaded
    assert loaded.get("invalid", 0) >= 1 and loaded.get("apply-guardrail", 0) >= 1, loaded


def test_prometheus_scrapes_all_four_services(prometheus, loaded):
    body = api(prometheus, "query", query=f'up{{namespace="{NAMESPACE}"}}')
    ups = {r["metric"]["job"]: r["value"][1] for r in body["data"]["result"]}
    assert ups == {f"{RELEASE}-{s}": "1" for s in SERVICES}, ups


@pytest.mark.parametrize("title,expr", dashboard_queries(), ids=lambda v: v if len(v) < 60 else None)
def test_dashboard_query_parses_and_returns_data(prometheus, loaded, title, expr):
    body = api(prometheus, "query", query=expr)
    assert body["status"] == "success", f"{title}: {body.get('error')}\n{expr}"
    result = body["data"]["result"]
    assert result, f"{title}: no data\n{expr}"
    values = [float(r["value"][1]) for r in result]
    assert not all(v != v for v in values), f"{title}: only NaN\n{expr}"  # NaN != NaN


def test_dashboard_variables_have_values(prometheus, loaded):
    dashboard = json.loads((CHART / "dashboards" / "safegen.json").read_text())
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        # label_values(<selector>, <label>) is Grafana's; the same thing in Prometheus' API:
        inner = var["query"]["query"].replace("$namespace", NAMESPACE)[len("label_values(") : -1]
        selector, label = inner.rsplit(",", 1)
        body = api(prometheus, f"label/{label.strip()}/values", **{"match[]": selector.strip()})
        assert body["status"] == "success" and body["data"], (var["name"], body)
        if var["name"] == "service":
            assert set(body["data"]) == set(GRPC_SERVICES)


def test_every_rule_evaluates_and_every_recording_rule_returns_data(prometheus, loaded):
    deadline = time.monotonic() + 30
    while True:
        groups = api(prometheus, "rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        empty = []
        for r in rules:
            if r["type"] == "recording":
                result = api(prometheus, "query", query=r["name"])["data"]["result"]
                if not result or all(v != v for v in (float(x["value"][1]) for x in result)):
                    empty.append(r["name"])
        if (not bad and not empty) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(rules) >= 10
    assert not bad, f"rules with errors: {bad}"
    assert not empty, f"recording rules without data: {empty}"


def test_healthy_stack_fires_no_service_alerts(prometheus, loaded):
    alerts = api(prometheus, "alerts")["data"]["alerts"]
    names = {a["labels"]["alertname"] for a in alerts}
    assert not names & {"SafegenServiceNotServing", "SafegenTargetDown", "SafegenHighErrorRatio"}, alerts


def test_overhead_recording_rule_matches_the_gateway_timings(prometheus, loaded):
    """The time-weighted overhead the alert uses lies in (0, 1) and agrees with the raw stage sums."""
    rec = api(prometheus, "query", query="namespace:safegen_moderation_overhead:ratio_rate5m")["data"]["result"]
    assert rec, "no overhead series"
    value = float(rec[0]["value"][1])
    assert 0 < value < 1, value
    raw = api(
        prometheus,
        "query",
        query=(
            'sum(safegen_stage_duration_seconds_sum{stage=~"prompt_moderation|image_moderation"})'
            ' / sum(safegen_stage_duration_seconds_sum{stage="total"})'
        ),
    )["data"]["result"]
    assert abs(float(raw[0]["value"][1]) - value) < 0.2, (value, raw)
