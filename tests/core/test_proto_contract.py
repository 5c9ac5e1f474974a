"""The contract: buf lint (STANDARD + COMMENTS) passes and the committed generated code matches the protos."""

from __future__ import annotations

import filecmp
import shutil
import subprocess

import pytest


def test_generated_code_matches_protos(repo_root, tmp_path):
    subprocess.run([str(repo_root / "scripts" / "gen-protos"), str(tmp_path)], check=True, cwd=repo_root)
    fresh = tmp_path / "safegen" / "v1"
    committed = repo_root / "services" / "safegen" / "v1"
    names = sorted(p.name for p in fresh.iterdir() if p.name != "__init__.py")
    assert names, "codegen produced nothing"
    drift = [
        n for n in names if not (committed / n).exists() or not filecmp.cmp(fresh / n, committed / n, shallow=False)
    ]
    stale = sorted(
        p.name
        for p in committed.iterdir()
        if p.suffix in (".py", ".pyi") and p.name != "__init__.py" and p.name not in names
    )
    assert not drift and not stale, f"generated code drifted: {drift} stale: {stale}; run scripts/gen-protos"


@pytest.mark.tools
def test_buf_lint(repo_root):
    buf = shutil.which("buf")
    if not buf:
        pytest.skip("buf not installed (pip install buf-bin)")
    r = subprocess.run([buf, "lint"], cwd=repo_root / "protos", capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_public_names_exist():
    # Outside tools call these exact names (issue #2): renaming any of them is a breaking change.
    from safegen.v1 import (
        common_pb2,
        guardrail_pb2,
        image_generation_pb2,
        image_moderation_pb2,
        safe_generation_pb2,
        text_moderation_pb2,
    )

    services = {
        text_moderation_pb2: ("TextModerationService", ["ModerateText"]),
        image_moderation_pb2: ("ImageModerationService", ["ModerateImages"]),
        image_generation_pb2: ("ImageGenerationService", ["GenerateImages", "StreamGenerateImages"]),
        safe_generation_pb2: ("SafeGenerationService", ["Generate", "StreamGenerate"]),
        guardrail_pb2: ("GuardrailService", ["ApplyGuardrail"]),
    }
    for mod, (svc, methods) in services.items():
        d = mod.DESCRIPTOR.services_by_name[svc]
        assert d.full_name == f"safegen.v1.{svc}"
        assert set(methods) <= set(d.methods_by_name)
    assert common_pb2.ACTION_NONE and common_pb2.ACTION_GUARDRAIL_INTERVENED
    assert common_pb2.SOURCE_INPUT and common_pb2.SOURCE_OUTPUT
    fields = set(text_moderation_pb2.ModerateTextResponse.DESCRIPTOR.fields_by_name)
    assert {"action", "filters", "words"} <= fields
    fields = set(safe_generation_pb2.GenerateResponse.DESCRIPTOR.fields_by_name)
    assert {"action", "prompt_assessment", "images", "warnings", "attempts", "timings"} <= fields
