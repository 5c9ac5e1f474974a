"""Fixtures for the deployment checks: the real helm, promtool, prometheus and kubernetes-validate (see deploy_helpers)."""

from __future__ import annotations

import shutil

import pytest

from deploy_helpers import find_tool, missing_tool


@pytest.fixture(scope="session")
def helm() -> str:
    return find_tool("helm") or missing_tool("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_tool("promtool") or missing_tool("promtool (Debian package prometheus)")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return find_tool("prometheus") or missing_tool("prometheus (Debian package prometheus)")


@pytest.fixture(scope="session")
def kubernetes_validate() -> list[str]:
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        missing_tool("kubernetes-validate (pip install kubernetes-validate)")
    return [shutil.which("kubernetes-validate") or "kubernetes-validate"]
