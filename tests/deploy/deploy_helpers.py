"""Helpers for the deployment checks (a unique module name: several test folders have a conftest.py): tools, chart renders.

Tools are found through SAFEGEN_HELM / SAFEGEN_PROMTOOL / SAFEGEN_PROMETHEUS (what deploy/setup-tools.sh
prints), then the setup script's cache, then PATH. A missing tool skips its tests with the reason, unless
SAFEGEN_REQUIRE_TOOLS=1 (set by deploy/check.sh), where it fails: CI must not pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "k8s" / "safegen"
SCENARIOS = sorted((CHART / "ci").glob("*-values.yaml"))
TOOLS_CACHE = (
    Path(
        os.environ.get(
            "SAFEGEN_TOOLS_DIR", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "safegen" / "tools"
        )
    )
    / "bin"
)


def missing_tool(what: str):
    reason = f"{what} not found: run deploy/setup-tools.sh (or deploy/check.sh)"
    if os.environ.get("SAFEGEN_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def find_tool(name: str) -> str | None:
    env = os.environ.get(f"SAFEGEN_{name.upper()}")
    if env and os.access(env, os.X_OK):
        return env
    cached = TOOLS_CACHE / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which(name)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def render(
    helm: str,
    *values_files: Path,
    sets: tuple[str, ...] = (),
    namespace: str = "safegen",
    release: str = "safegen",
    show_only: str | None = None,
    kube_version: str | None = None,
) -> str:
    """`helm template` of the chart (for `kube_version`'s API, as `helm install` renders for the cluster
    it talks to); fails the test with helm's message on error."""
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace]
    if kube_version:
        cmd += ["--kube-version", kube_version]
    for f in values_files:
        cmd += ["-f", str(f)]
    for s in sets:
        cmd += ["--set", s]
    if show_only:
        cmd += ["--show-only", show_only]
    p = run(cmd)
    if p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{p.stderr}")
    return p.stdout


def documents(manifest: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def rules_file(helm: str, dest: Path, namespace: str = "safegen", release: str = "safegen") -> Path:
    """Renders the chart's PrometheusRule and writes its spec (plain Prometheus rule groups) to dest."""
    manifest = render(
        helm,
        sets=("metrics.prometheusRule.enabled=true",),
        namespace=namespace,
        release=release,
        show_only="templates/prometheusrule.yaml",
    )
    (rule,) = documents(manifest)
    dest.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return dest
