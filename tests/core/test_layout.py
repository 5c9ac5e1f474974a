"""The house plan holds: every service folder reads the same way, domain code imports no grpc, serving imports no tooling."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "services" / "safegen"


@pytest.mark.parametrize("service", ["text", "image", "generation"])
def test_every_service_folder_has_settings_servicer_and_backends(service):
    folder = PKG / service
    for name in (
        "settings.py",
        "servicer.py",
        "backends/__init__.py",
        "backends/base.py" if service != "text" else "backends/local.py",
    ):
        assert (folder / name).is_file(), f"{service}/{name} is missing"
    assert not (folder / "service.py").exists(), "service.py mixed settings, domain and grpc: split it"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


DOMAIN = [
    PKG / "text" / "moderator.py",
    PKG / "image" / "moderator.py",
    PKG / "generation" / "generator.py",
    PKG / "generation" / "request.py",
    *sorted((PKG / "policy").glob("*.py")),
    PKG / "image" / "blur.py",
    PKG / "text" / "words.py",
    PKG / "text" / "normalize.py",
    PKG / "text" / "classifier.py",
]


@pytest.mark.parametrize("path", DOMAIN, ids=[str(p.relative_to(PKG)) for p in DOMAIN])
def test_domain_modules_import_nothing_from_grpc(path):
    bad = {n for n in _imports(path) if n == "grpc" or n.startswith(("grpc.", "safegen.v1"))}
    assert not bad, f"{path.name} imports {bad}: keep proto/grpc in servicer.py"


def test_runtime_never_imports_training_or_test_helpers():
    """Building every servicer (what `safegen serve` does) loads no safegen.training module and no test helper."""
    code = (
        "import sys\n"
        "import safegen.cli, safegen.text.servicer, safegen.image.servicer, safegen.generation.servicer\n"
        "import safegen.gateway.servicer, safegen.gateway.http, safegen.scan.cli\n"
        "bad = sorted(m for m in sys.modules if m.startswith('safegen.training') or m == 'support')\n"
        "print(','.join(bad))\n"
    )
    env = {"PYTHONPATH": f"{REPO / 'services'}:{REPO / 'gateway'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"runtime imports tooling: {out.stdout}"


def test_no_absolute_machine_paths_in_the_package():
    hits = [str(p.relative_to(REPO)) for p in PKG.rglob("*.py") if "/work/" in p.read_text()]
    assert not hits, f"absolute machine paths in {hits}: take data locations from flags or settings"
