"""Static checks of the Dockerfile: the contract of the image, and no drift from scripts/install."""

from __future__ import annotations

import re

from deploy_helpers import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def final_stage() -> str:
    return DOCKERFILE.split("\nFROM ${BASE_IMAGE}\n", 1)[1]


def test_base_image_and_torch_source_are_build_arguments():
    assert "ARG BASE_IMAGE=python:3.11-slim" in DOCKERFILE
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in DOCKERFILE
    assert DOCKERFILE.count("FROM ${BASE_IMAGE}") == 2, "multi-stage: build and final from the same base"


def test_final_stage_runs_safegen_as_uid_10001_and_copies_only_the_venv():
    final = final_stage()
    assert "USER 10001:10001" in final
    assert 'ENTRYPOINT ["safegen"]' in final and 'CMD ["serve"]' in final
    copies = re.findall(r"^COPY .*$", final, flags=re.M)
    assert copies == ["COPY --from=build /opt/venv /opt/venv"], copies
    # Nothing is installed in the final stage: no apt-get, no pip, so no compilers can creep in.
    assert "apt-get" not in final and "pip install" not in final


def test_no_side_installs_outside_pyproject():
    """`pip install .` is the whole install: no --no-deps side packages in scripts/install or the image."""
    for text in ((REPO / "scripts" / "install").read_text(), DOCKERFILE):
        assert not re.findall(r'--no-deps\s+"?[A-Za-z0-9_.-]+==', text), "a pinned package installed beside pyproject"


def test_dockerignore_keeps_the_build_context_small():
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", "tests", "**/__pycache__", "**/*.egg-info", "node_modules"):
        assert entry in ignored
