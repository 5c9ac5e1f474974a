"""The Helm chart against the real helm and kubernetes-validate: lint, render, validate, schema, and what it renders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from deploy_helpers import CHART, SCENARIOS, documents, render, run

pytestmark = pytest.mark.tools

SCENARIO_IDS = [p.name for p in SCENARIOS]
ALL = [None, *SCENARIOS]
ALL_IDS = ["default", *SCENARIO_IDS]
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and kubernetes-validate's newest.
KUBE_VERSIONS = ["1.27.0", None]
# Custom resources kubernetes-validate has no schema for; checked separately below (and by promtool).
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}


def values_args(scenario: Path | None) -> tuple[Path, ...]:
    return (scenario,) if scenario else ()


def test_scenarios_exist():
    assert len(SCENARIOS) >= 4, SCENARIO_IDS


@pytest.mark.parametrize("scenario", ALL, ids=ALL_IDS)
def test_helm_lint_strict(helm, scenario):
    cmd = [helm, "lint", "--strict", str(CHART)] + (["-f", str(scenario)] if scenario else [])
    p = run(cmd)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS, ids=lambda v: v or "latest")
@pytest.mark.parametrize("scenario", ALL, ids=ALL_IDS)
def test_rendered_manifests_pass_kubernetes_validate_strict(
    helm, kubernetes_validate, tmp_path, scenario, kube_version
):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(render(helm, *values_args(scenario), kube_version=kube_version))
    cmd = [*kubernetes_validate, "--strict"] + (["-k", kube_version] if kube_version else []) + [str(manifest)]
    p = run(cmd)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    # kubernetes-validate passes kinds it has no schema for with a warning: allow only our CRDs, so a
    # misspelt apiVersion or kind of a built-in resource cannot slip through as "unknown".
    unknown = set(re.findall(r"Couldn't find schema for kind (\w+)", out))
    assert unknown <= CUSTOM_KINDS, out
    assert "ERROR" not in out and "FAILED" not in out.upper(), out


@pytest.mark.parametrize(
    "bad",
    [
        "textModeration.bakend=local",  # misspelt key in a service
        "gateway.service.tpye=ClusterIP",  # misspelt nested key
        "metrics.serviceMonitor.enabeld=true",  # misspelt switch
        "imageGeneration.backend=dall-e",  # value outside the enum
        "aws.accessKeyId=AKIAEXAMPLE",  # credentials have no place in values
        "ports.grpc=70000",  # out of range
        "shutdown.graceSeconds=-1",
    ],
)
def test_schema_rejects_typos_and_bad_values(helm, bad):
    p = run([helm, "template", "x", str(CHART), "--set", bad])
    assert p.returncode != 0, f"--set {bad} rendered"
    assert "schema" in p.stderr, p.stderr


def test_termination_grace_must_exceed_drain(helm):
    p = run([helm, "template", "x", str(CHART), "--set", "shutdown.graceSeconds=40"])
    assert p.returncode != 0 and "terminationGracePeriodSeconds" in p.stderr, p.stderr


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module")
def default_docs(helm):
    return documents(render(helm))


@pytest.fixture(scope="module")
def everything_docs(helm):
    return documents(render(helm, CHART / "ci" / "everything-values.yaml"))


SERVICES = {
    "text-moderation": "safegen.v1.TextModerationService",
    "image-moderation": "safegen.v1.ImageModerationService",
    "image-generation": "safegen.v1.ImageGenerationService",
    "gateway": "safegen.v1.SafeGenerationService",
}


def test_defaults_render_one_deployment_and_two_services_per_service_and_nothing_optional(default_docs):
    kinds = sorted({d["kind"] for d in default_docs})
    # NetworkPolicy is on by default: image-generation must only be reachable from the gateway.
    assert kinds == ["ConfigMap", "Deployment", "NetworkPolicy", "Pod", "Service", "ServiceAccount"], kinds
    deployments = by_kind(default_docs, "Deployment")
    services = by_kind(default_docs, "Service")
    assert set(deployments) == {f"safegen-{n}" for n in SERVICES}
    for n in SERVICES:
        assert services[f"safegen-{n}-headless"]["spec"]["clusterIP"] == "None"
        assert services[f"safegen-{n}"]["spec"]["type"] == "ClusterIP"


def _generation_startup(docs) -> tuple[int, int]:
    (c,) = by_kind(docs, "Deployment")["safegen-image-generation"]["spec"]["template"]["spec"]["containers"]
    return c["startupProbe"]["periodSeconds"], c["startupProbe"]["failureThreshold"]


def test_generation_startup_probe_is_short_for_the_bundled_model_and_long_for_an_own_model(helm, default_docs):
    # The bundled model loads in under a second (onnxruntime); a Stable Diffusion checkpoint can take minutes.
    assert _generation_startup(default_docs) == (2, 30)
    own = documents(render(helm, sets=("imageGeneration.model=/models/sd-2-1",)))
    assert _generation_startup(own) == (5, 120)
    tuned = documents(
        render(
            helm, sets=("imageGeneration.model=/models/sdxl", "imageGeneration.modelStartupProbe.failureThreshold=360")
        )
    )
    assert _generation_startup(tuned) == (5, 360)


@pytest.mark.parametrize("name", list(SERVICES))
def test_deployment_probes_security_and_shutdown(default_docs, name):
    dep = by_kind(default_docs, "Deployment")[f"safegen-{name}"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][:2] == ["serve", name]
    assert c["readinessProbe"]["grpc"] == {"port": 50051, "service": SERVICES[name]}
    assert c["startupProbe"]["grpc"] == {"port": 50051, "service": SERVICES[name]}
    assert c["livenessProbe"]["grpc"] == {"port": 50051}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", "/cache", "/etc/safegen/guardrails"} <= mounts
    env = {e["name"]: e.get("value") for e in c["env"]}
    grace = float(env["SAFEGEN_GRACE_SECONDS"]) + float(env["SAFEGEN_DRAIN_DELAY_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > grace
    assert env["SAFEGEN_GUARDRAILS_DIR"] == "/etc/safegen/guardrails"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]


def test_gateway_reaches_backends_through_headless_dns(default_docs):
    (c,) = by_kind(default_docs, "Deployment")["safegen-gateway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert (
        env["SAFEGEN_TEXT_MODERATION_ADDR"] == "dns:///safegen-text-moderation-headless.safegen.svc.cluster.local:50051"
    )
    assert (
        env["SAFEGEN_IMAGE_MODERATION_ADDR"]
        == "dns:///safegen-image-moderation-headless.safegen.svc.cluster.local:50051"
    )
    assert (
        env["SAFEGEN_IMAGE_GENERATION_ADDR"]
        == "dns:///safegen-image-generation-headless.safegen.svc.cluster.local:50051"
    )
    assert "--http-port=8080" in c["args"]


def settings_read_by_the_code(repo_root: Path) -> set[str]:
    """SAFEGEN_* names quoted in the code (what Env(...).str("SAFEGEN_...") and friends read)."""
    names = set()
    for folder in ("services", "gateway"):
        for path in (repo_root / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"'](SAFEGEN_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    # Not settings of a running pod: the CLI's client target, a training script's threads, a constant.
    return names - {
        "SAFEGEN_TARGET",
        "SAFEGEN_TRAIN_THREADS",
        "SAFEGEN_PIPELINES",
        "SAFEGEN_DATA_DIR",
        # the client commands' key and TLS (core/clientauth.py), not a pod's settings
        "SAFEGEN_API_KEY",
        "SAFEGEN_TARGET_CA_FILE",
        "SAFEGEN_TARGET_CERT_FILE",
        "SAFEGEN_TARGET_KEY_FILE",
        "SAFEGEN_TARGET_SERVER_NAME",
    }


def settings_the_chart_can_set(helm) -> set[str]:
    rendered = set()
    for scenario in ALL:
        for d in documents(render(helm, *values_args(scenario))):
            if d["kind"] == "Deployment":
                for c in d["spec"]["template"]["spec"]["containers"]:
                    rendered |= {e["name"] for e in c.get("env", []) if e["name"].startswith("SAFEGEN_")}
    schema = json.loads((CHART / "values.schema.json").read_text())
    for key in ("textModeration", "imageModeration", "imageGeneration"):
        rendered |= set(schema["properties"][key]["properties"]["settings"]["propertyNames"]["enum"])
    return rendered


def test_values_reach_every_setting_the_code_reads(helm, repo_root):
    missing = sorted(settings_read_by_the_code(repo_root) - settings_the_chart_can_set(helm))
    assert not missing, (
        f"settings read by the code but not settable from values.yaml: {missing}; run "
        "python deploy/sync-settings-schema.py and mention them in values.yaml"
    )


def test_values_set_only_settings_the_code_reads(helm, repo_root):
    unknown = sorted(settings_the_chart_can_set(helm) - settings_read_by_the_code(repo_root))
    assert not unknown, (
        f"the chart sets variables no code reads (renamed or misspelt?): {unknown}; "
        "python deploy/sync-settings-schema.py drops stale settings names"
    )


def test_aws_scenario_uses_irsa_and_no_credentials(helm):
    docs = documents(render(helm, CHART / "ci" / "aws-values.yaml"))
    (sa,) = by_kind(docs, "ServiceAccount").values()
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    text = yaml.safe_dump_all(docs)
    assert not re.search(r"AWS_(SECRET_ACCESS_KEY|ACCESS_KEY_ID|SESSION_TOKEN)", text)
    (c,) = by_kind(docs, "Deployment")["safegen-image-moderation"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SAFEGEN_IMAGE_BACKEND"] == "rekognition" and env["SAFEGEN_AWS_REGION"] == "us-east-1"


def test_gpu_scenario_schedules_generation_on_gpu_nodes(helm):
    docs = documents(render(helm, CHART / "ci" / "gpu-values.yaml"))
    pod = by_kind(docs, "Deployment")["safegen-image-generation"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"  # a quantity is a string
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.xlarge"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SAFEGEN_GEN_DEVICE"] == "cuda" and env["SAFEGEN_GEN_MODEL"] == "/models/stable-diffusion"
    assert c["image"].startswith("ghcr.io/safegen/safegen-cuda:")
    # Other services stay off GPU nodes.
    other = by_kind(docs, "Deployment")["safegen-text-moderation"]["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in other["containers"][0]["resources"].get("limits", {})


def test_everything_scenario_renders_every_optional_object(everything_docs):
    kinds = {d["kind"] for d in everything_docs}
    assert {
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    assert len(by_kind(everything_docs, "HorizontalPodAutoscaler")) == 4
    assert len(by_kind(everything_docs, "PodDisruptionBudget")) == 4
    for d in by_kind(everything_docs, "Deployment").values():
        assert "replicas" not in d["spec"], "the HPA owns replicas"
    dashboards = [
        d
        for d in everything_docs
        if d["kind"] == "ConfigMap" and d["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert dashboards, "no dashboard ConfigMap labelled grafana_dashboard=1"
    for d in dashboards:
        for body in d["data"].values():
            assert json.loads(body)["uid"] == "safegen-overview"
    guardrails = by_kind(everything_docs, "ConfigMap")["safegen-guardrails"]
    policy = yaml.safe_load(guardrails["data"]["strict-block.yaml"])
    assert policy["id"] == "strict-block"


def test_guardrail_policies_in_the_configmap_load_with_the_real_registry(everything_docs, tmp_path):
    from safegen.policy import GuardrailRegistry

    for name, body in by_kind(everything_docs, "ConfigMap")["safegen-guardrails"]["data"].items():
        (tmp_path / name).write_text(body)
    registry = GuardrailRegistry.load(tmp_path, "strict-block")
    assert registry.get("").id == "strict-block"
    assert registry.get("default").id == "default"


def test_network_policy_lets_only_the_gateway_reach_backends_and_scrapers_reach_metrics(everything_docs):
    policies = by_kind(everything_docs, "NetworkPolicy")
    assert len(policies) == 4
    backend = policies["safegen-text-moderation"]["spec"]
    grpc_rule = next(r for r in backend["ingress"] if {"port": "grpc", "protocol": "TCP"} in r["ports"])
    components = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in grpc_rule["from"]}
    assert components == {"gateway", "helm-test"}
    for policy in policies.values():
        metrics_rule = next(
            r for r in policy["spec"]["ingress"] if {"port": "metrics", "protocol": "TCP"} in r["ports"]
        )
        assert metrics_rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]


# The fields of the ServiceMonitor CRD (monitoring.coreos.com/v1) the chart may use: kubernetes-validate
# has no schema for custom resources, so a misspelt field here would be silently dropped by the API server.
SERVICE_MONITOR_SPEC = {
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "endpoints",
    "selector",
    "namespaceSelector",
    "sampleLimit",
    "scrapeProtocols",
    "attachMetadata",
}
SERVICE_MONITOR_ENDPOINT = {
    "port",
    "targetPort",
    "path",
    "scheme",
    "params",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "honorTimestamps",
    "metricRelabelings",
    "relabelings",
    "followRedirects",
    "enableHttp2",
}


def test_service_monitor_scrapes_headless_services_with_job_names_the_alerts_use(everything_docs):
    (sm,) = by_kind(everything_docs, "ServiceMonitor").values()
    assert set(sm["spec"]) <= SERVICE_MONITOR_SPEC
    for ep in sm["spec"]["endpoints"]:
        assert set(ep) <= SERVICE_MONITOR_ENDPOINT
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = [
        s
        for s in by_kind(everything_docs, "Service").values()
        if all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    ]
    assert {s["metadata"]["name"] for s in selected} == {f"safegen-{n}-headless" for n in SERVICES}
    jobs = {s["metadata"]["labels"][sm["spec"]["jobLabel"]] for s in selected}
    assert jobs == {f"safegen-{n}" for n in SERVICES}
    (rule,) = by_kind(everything_docs, "PrometheusRule").values()
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    for job in jobs:
        assert job in exprs


def test_helm_test_pod_checks_every_service_with_safegen_health(default_docs, helm):
    (pod,) = by_kind(default_docs, "Pod").values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    checked = {
        next(a for a in c["args"] if a.startswith("--service=")).split("=", 1)[1] for c in pod["spec"]["containers"]
    }
    # The default NetworkPolicy keeps the test pod away from image-generation (only the gateway reaches it).
    assert checked == set(SERVICES.values()) - {"safegen.v1.ImageGenerationService"} | {"safegen.v1.GuardrailService"}
    for c in pod["spec"]["containers"]:
        assert c["args"][0] == "health"
    (pod,) = by_kind(documents(render(helm, sets=("networkPolicy.enabled=false",))), "Pod").values()
    checked = {
        next(a for a in c["args"] if a.startswith("--service=")).split("=", 1)[1] for c in pod["spec"]["containers"]
    }
    assert checked == set(SERVICES.values()) | {"safegen.v1.GuardrailService"}


def test_only_the_gateway_reaches_image_generation_by_default(default_docs):
    policies = by_kind(default_docs, "NetworkPolicy")
    generation = policies["safegen-image-generation"]["spec"]
    assert generation["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "image-generation"
    assert generation["policyTypes"] == ["Ingress"]
    grpc_rule = next(r for r in generation["ingress"] if {"port": "grpc", "protocol": "TCP"} in r["ports"])
    assert grpc_rule["from"] == [
        {"podSelector": {"matchLabels": {**policies["safegen-gateway"]["spec"]["podSelector"]["matchLabels"]}}}
    ]
    other_rules = [r for r in generation["ingress"] if r is not grpc_rule]
    assert all({p["port"] for p in r["ports"]} == {"metrics"} for r in other_rules)


def test_notes_tell_how_to_reach_the_gateway(helm):
    for scenario, needle in (
        (None, "port-forward service/safegen-gateway"),
        (CHART / "ci" / "everything-values.yaml", "EXTERNAL-IP"),
        (CHART / "ci" / "minimal-values.yaml", "nodePort"),
    ):
        cmd = [helm, "install", "safegen", str(CHART), "--dry-run=client", "-n", "safegen"] + (
            ["-f", str(scenario)] if scenario else []
        )
        p = run(cmd)
        assert p.returncode == 0, p.stderr
        notes = p.stdout.split("NOTES:", 1)[1]
        assert needle in notes and "grpcurl" in notes


def test_values_yaml_keys_match_the_schema():
    """The schema rejects unknown keys; this checks the other direction: every schema property is documented in values.yaml."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(s: dict, v, path: str):
        if s.get("additionalProperties") is False:
            assert isinstance(v, dict), path
            if v == {}:  # an empty override map (e.g. a service's `image: {}`), documented by its comment
                return
            assert set(v) == set(s["properties"]), f"{path}: values {sorted(v)} vs schema {sorted(s['properties'])}"
            for k, sub in s["properties"].items():
                walk(sub, v[k], f"{path}.{k}")

    walk(schema, values, "")


def settings_parsers(component: str) -> list:
    """The real from_env parsers each service runs at start (a bad value stops the pod with SettingsError)."""
    from safegen.core.settings import AwsSettings, CoreSettings

    parsers = [CoreSettings.from_env, AwsSettings.from_env]
    if component == "text-moderation":
        from safegen.text.classifier import ClassifierSettings
        from safegen.text.settings import TextSettings

        parsers += [TextSettings.from_env, ClassifierSettings.from_env]
    elif component == "image-moderation":
        from safegen.image.limits import ImageLimits
        from safegen.image.settings import ImageSettings

        parsers += [ImageSettings.from_env, ImageLimits.from_env]
    elif component == "image-generation":
        from safegen.generation.settings import GenerationSettings

        parsers += [GenerationSettings.from_env]
    return parsers


@pytest.mark.parametrize("scenario", ALL, ids=ALL_IDS)
def test_every_rendered_setting_is_accepted_by_the_services_own_parsers(helm, scenario):
    for d in documents(render(helm, *values_args(scenario))):
        if d["kind"] != "Deployment":
            continue
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        (c,) = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
        for parse in settings_parsers(component):
            parse(env)  # raises SettingsError naming the variable


def test_chart_defaults_are_the_code_defaults(default_docs):
    """The chart renders AWS and timeout settings explicitly: they must equal what the code would pick."""
    from safegen.core.settings import AwsSettings, CoreSettings

    (c,) = by_kind(default_docs, "Deployment")["safegen-gateway"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    assert AwsSettings.from_env(env) == AwsSettings.from_env({})
    core, default = CoreSettings.from_env(env), CoreSettings()
    assert (core.moderation_timeout_s, core.generation_timeout_s, core.grace_seconds, core.log_level) == (
        default.moderation_timeout_s,
        default.generation_timeout_s,
        default.grace_seconds,
        default.log_level,
    )


def test_chart_requires_kubernetes_with_native_grpc_probes(helm):
    """Chart.yaml's kubeVersion: 1.27 (gRPC probes GA) renders, 1.26 is refused with helm's message."""
    ok = run([helm, "template", "x", str(CHART), "--kube-version", "1.27.0"])
    assert ok.returncode == 0, ok.stderr
    old = run([helm, "template", "x", str(CHART), "--kube-version", "1.26.9"])
    assert old.returncode != 0 and "kubeVersion" in old.stderr, old.stderr


# ------------------------------------------------------------------------ scan Job and queue autoscaling
SCAN = CHART / "ci" / "scan-values.yaml"
# The fields of KEDA's ScaledObject (keda.sh/v1alpha1) the chart may use: kubernetes-validate has no schema for it.
SCALED_OBJECT_SPEC = {
    "scaleTargetRef",
    "minReplicaCount",
    "maxReplicaCount",
    "pollingInterval",
    "cooldownPeriod",
    "idleReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}


@pytest.fixture(scope="module")
def scan_docs(helm):
    return documents(render(helm, SCAN))


def test_scan_job_is_an_indexed_job_with_per_shard_retries_irsa_and_s3(scan_docs):
    jobs = by_kind(scan_docs, "Job")
    job, merge = jobs["safegen-scan"]["spec"], jobs["safegen-scan-merge"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == 4 and job["parallelism"] == 4
    assert job["backoffLimitPerIndex"] == 2 and job["maxFailedIndexes"] == 1 and "backoffLimit" not in job
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "safegen-scan"
    sa = by_kind(scan_docs, "ServiceAccount")["safegen-scan"]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/safegen-scan")
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["JOB_COMPLETION_COUNT"] == "4"  # JOB_COMPLETION_INDEX comes from Kubernetes
    args = c["args"]
    assert args[:2] == ["scan-dataset", "s3://training-data/dogs"]
    assert "--state-dir=s3://training-data/scan-state/dogs" in args
    assert "--quarantine=s3://training-data/quarantine/dogs" in args and "--unsafe-exit-code=0" in args
    assert "--target=dns:///safegen-image-moderation-headless.safegen.svc.cluster.local:50051" in args
    assert c["resources"]["limits"]["memory"] == "512Mi"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    (m,) = merge["template"]["spec"]["containers"]
    assert "--merge" in m["args"] and "--shards=4" in m["args"] and "completionMode" not in merge
    text = yaml.safe_dump_all(scan_docs)
    assert not re.search(r"AWS_(SECRET_ACCESS_KEY|ACCESS_KEY_ID|SESSION_TOKEN)", text)


def test_scan_flags_parse_with_the_real_cli(scan_docs):
    """Every argument the Job passes is one `safegen scan-dataset` accepts (a renamed flag would crash-loop the pods)."""
    import argparse

    from safegen.scan import cli

    for job in by_kind(scan_docs, "Job").values():
        (c,) = job["spec"]["template"]["spec"]["containers"]
        parser = argparse.ArgumentParser(exit_on_error=False)
        cli.configure_parser(parser)
        args = parser.parse_args(c["args"][1:])
        assert args.directory == "s3://training-data/dogs" and args.unsafe_exit_code == 0


def test_old_clusters_get_a_total_backoff_limit(helm):
    docs = documents(render(helm, SCAN, kube_version="1.27.0"))
    job = by_kind(docs, "Job")["safegen-scan"]["spec"]
    assert "backoffLimitPerIndex" not in job and job["backoffLimit"] == 4 * 2


def test_scan_needs_a_source_and_a_shared_state(helm):
    p = run([helm, "template", "x", str(CHART), "--set", "scan.enabled=true", "--set", "scan.source=s3://b/p"])
    assert p.returncode != 0 and "scan.stateDir" in p.stderr, p.stderr
    p = run([helm, "template", "x", str(CHART), "--set", "scan.enabled=true", "--set", "scan.source=/data"])
    assert p.returncode != 0 and "schema" in p.stderr, p.stderr


def test_network_policy_lets_the_scan_reach_the_moderation_services(scan_docs):
    policies = by_kind(scan_docs, "NetworkPolicy")
    for name, allowed in (("image-moderation", True), ("text-moderation", True), ("image-generation", False)):
        spec = policies[f"safegen-{name}"]["spec"]
        grpc_rule = next(r for r in spec["ingress"] if {"port": "grpc", "protocol": "TCP"} in r["ports"])
        components = {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in grpc_rule["from"]}
        assert ("scan" in components) == allowed, (name, components)


def test_generation_scales_on_its_queue_through_prometheus_adapter(scan_docs):
    hpas = by_kind(scan_docs, "HorizontalPodAutoscaler")
    assert set(hpas) == {"safegen-image-generation"}  # image moderation is KEDA's in this scenario
    spec = hpas["safegen-image-generation"]["spec"]
    pods = {m["pods"]["metric"]["name"]: m["pods"] for m in spec["metrics"] if m["type"] == "Pods"}
    assert pods["safegen_inflight_requests"]["metric"]["selector"]["matchLabels"] == {"service": "image-generation"}
    assert pods["safegen_inflight_requests"]["target"] == {"type": "AverageValue", "averageValue": "2"}
    assert pods["safegen_queue_depth"]["target"]["averageValue"] == "1"
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 900


def test_image_moderation_scales_on_its_queue_through_keda(scan_docs):
    (so,) = by_kind(scan_docs, "ScaledObject").values()
    assert set(so["spec"]) <= SCALED_OBJECT_SPEC
    assert so["spec"]["scaleTargetRef"] == {"name": "safegen-image-moderation"}
    queries = {
        t["metadata"]["query"]: t["metadata"]["threshold"] for t in so["spec"]["triggers"] if t["type"] == "prometheus"
    }
    sel = 'namespace="safegen", job="safegen-image-moderation", service="image-moderation"'
    assert queries == {f"sum(safegen_inflight_requests{{{sel}}})": "4", f"sum(safegen_queue_depth{{{sel}}})": "2"}
    behavior = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_generation_pods_drain_a_whole_generation(default_docs, scan_docs):
    """terminationGracePeriodSeconds follows the generation timeout: a scale-down never kills a pod mid-generation."""
    for docs, timeout in ((default_docs, 600), (scan_docs, 300)):
        pod = by_kind(docs, "Deployment")["safegen-image-generation"]["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert float(env["SAFEGEN_GRACE_SECONDS"]) == timeout
        assert pod["terminationGracePeriodSeconds"] > timeout + float(env["SAFEGEN_DRAIN_DELAY_SECONDS"])
        other = by_kind(docs, "Deployment")["safegen-text-moderation"]["spec"]["template"]["spec"]
        assert other["terminationGracePeriodSeconds"] == 30  # the others keep shutdown's values


def test_service_monitor_keeps_the_gauges_service_label(scan_docs):
    """The operator's `service` target label would rename the gauges' own to exported_service; the
    ServiceMonitor puts it back, or the autoscalers' `service: image-generation` selectors match nothing."""
    (sm,) = by_kind(scan_docs, "ServiceMonitor").values()
    (ep,) = sm["spec"]["endpoints"]
    copy, drop = ep["metricRelabelings"]
    assert copy["sourceLabels"] == ["__name__", "exported_service"] and copy["targetLabel"] == "service"
    assert re.fullmatch(copy["regex"], "safegen_queue_depth;image-generation")
    assert not re.fullmatch(copy["regex"], "grpc_server_handled_total;x")
    assert drop == {"action": "labeldrop", "regex": "exported_service"}


def test_gateway_can_drain_its_open_generation_streams(helm):
    docs = documents(
        render(helm, sets=("gateway.graceFollowsGenerationTimeout=true", "gateway.generationTimeoutSeconds=120"))
    )
    pod = by_kind(docs, "Deployment")["safegen-gateway"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["SAFEGEN_GRACE_SECONDS"] == "120" and pod["terminationGracePeriodSeconds"] == 5 + 120 + 5


def test_in_process_scan_moderates_in_the_pod_with_the_image_settings(helm):
    docs = documents(render(helm, SCAN, sets=("scan.moderation=in-process", "imageModeration.detectors=open_nsfw")))
    (c,) = by_kind(docs, "Job")["safegen-scan"]["spec"]["template"]["spec"]["containers"]
    assert not any(a.startswith(("--target", "--text-target")) for a in c["args"])
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["SAFEGEN_IMAGE_DETECTORS"] == "open_nsfw" and env["SAFEGEN_GUARDRAILS_DIR"] == "/etc/safegen/guardrails"
    # No Service is called, so the NetworkPolicy admits no scan pods.
    spec = by_kind(docs, "NetworkPolicy")["safegen-image-moderation"]["spec"]
    grpc_rule = next(r for r in spec["ingress"] if {"port": "grpc", "protocol": "TCP"} in r["ports"])
    assert "scan" not in {p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in grpc_rule["from"]}


def test_policies_hot_reload_by_default_and_roll_pods_only_when_asked(helm):
    """Default: no checksum annotation (a policy change must not restart pods that hot-reload it)."""

    def annotations(scenario):
        deps = by_kind(documents(render(helm, *values_args(scenario))), "Deployment")
        return [d["spec"]["template"]["metadata"].get("annotations") or {} for d in deps.values()]

    assert all("checksum/guardrails" not in a for a in annotations(None))
    assert all("checksum/guardrails" in a for a in annotations(CHART / "ci" / "everything-values.yaml"))
