"""The container image built and run with podman (deploy/podman-check.sh): heavy, so opt-in with SAFEGEN_PODMAN_CHECK=1."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from deploy_helpers import REPO

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def test_image_builds_runs_and_answers_grpcurl():
    if not shutil.which("podman"):
        pytest.skip("podman not installed (apt-get install podman): the container check needs it")
    if os.environ.get("SAFEGEN_PODMAN_CHECK") != "1":
        pytest.skip("the container build takes minutes: set SAFEGEN_PODMAN_CHECK=1 to run it")
    p = subprocess.run([str(REPO / "deploy" / "podman-check.sh")], capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, p.stdout[-4000:] + "\n" + p.stderr[-4000:]
    assert "podman-check: OK" in p.stdout
