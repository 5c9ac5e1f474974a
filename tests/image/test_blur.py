"""Blur: regions become unrecognizable (no detail or correlation left), the rest is untouched,
format and size are kept, and no region (or full=True) blurs everything."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from safegen.core.types import BoundingBox
from safegen.errors import InvalidArgument
from safegen.training import synthetic_images as synthetic
from safegen.image.blur import blur_image
from safegen.v1 import common_pb2


def detailed(size=512) -> Image.Image:
    """A busy, detailed scene: city windows over a noise texture (lots of edges to destroy)."""
    a = np.asarray(synthetic.city(3, size), np.float32)
    b = np.asarray(synthetic.noise_texture(5, size), np.float32)
    stripes = np.asarray(synthetic.stripes(2, size), np.float32)
    return Image.fromarray((a * 0.5 + b * 0.3 + stripes * 0.2).astype(np.uint8), "RGB")


def grey(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)


def hf_energy(a: np.ndarray) -> float:
    """Mean squared difference between neighbouring pixels: edges and texture."""
    return float((np.diff(a, axis=0) ** 2).mean() + (np.diff(a, axis=1) ** 2).mean())


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of the detail (image minus a local mean), so a shared average colour does not count."""

    def detail(x):
        k = 9
        pad = np.pad(x, k // 2, mode="edge")
        c = np.cumsum(np.cumsum(pad, 0), 1)
        c = np.pad(c, ((1, 0), (1, 0)))
        local = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
        return x - local

    da, db = detail(a).ravel(), detail(b).ravel()
    if da.std() == 0 or db.std() == 0:
        return 0.0
    return float(np.corrcoef(da, db)[0, 1])


BOX = BoundingBox(0.25, 0.30, 0.40, 0.35)


def crop(a: np.ndarray, b: BoundingBox) -> np.ndarray:
    h, w = a.shape
    return a[
        int(b.top * h) + 1 : int((b.top + b.height) * h) - 1, int(b.left * w) + 1 : int((b.left + b.width) * w) - 1
    ]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_region_blur_leaves_no_recoverable_detail(fmt):
    orig = synthetic.encode(detailed(), fmt)
    out = blur_image(orig, [BOX], full=False)
    a, b = crop(grey(orig), BOX), crop(grey(out), BOX)
    assert hf_energy(a) > 200  # the original region really is detailed
    assert hf_energy(b) < 0.02 * hf_energy(a), (hf_energy(a), hf_energy(b))
    assert abs(correlation(a, b)) < 0.1, correlation(a, b)


def test_small_regions_are_destroyed_too():
    orig = synthetic.encode(detailed(), "PNG")
    small = BoundingBox(0.5, 0.5, 0.06, 0.06)  # 30x30 pixels: blocks are sized from the image, not the box
    out = blur_image(orig, [small], full=False)
    a, b = crop(grey(orig), small), crop(grey(out), small)
    assert hf_energy(b) < 0.05 * hf_energy(a) and abs(correlation(a, b)) < 0.15


def test_outside_the_regions_png_is_untouched():
    img = detailed()
    out = np.asarray(Image.open(io.BytesIO(blur_image(synthetic.encode(img, "PNG"), [BOX], False))))
    orig = np.asarray(img)
    mask = np.ones(orig.shape[:2], bool)
    mask[int(0.30 * 512) : int(0.65 * 512) + 1, int(0.25 * 512) : int(0.65 * 512) + 1] = False
    assert np.array_equal(out[mask], orig[mask])
    assert not np.array_equal(out[~mask], orig[~mask])


@pytest.mark.parametrize(
    "fmt, mode, size",
    [("PNG", "RGB", (640, 360)), ("PNG", "RGBA", (300, 500)), ("PNG", "L", (200, 200)), ("JPEG", "RGB", (333, 222))],
)
def test_format_mode_and_size_are_kept(fmt, mode, size):
    img = synthetic.landscape(1, max(size)).resize(size).convert(mode)
    out = Image.open(io.BytesIO(blur_image(synthetic.encode(img, fmt), [BOX], False)))
    assert (out.format, out.size, out.mode) == (fmt, size, mode)


@pytest.mark.parametrize(
    "boxes, full", [(None, False), ([], False), ([BOX], True), ([BoundingBox(0.5, 0.5, 0.0, 0.0)], False)]
)
def test_whole_image_when_no_usable_region_or_full(boxes, full):
    orig = synthetic.encode(detailed(), "PNG")
    a, b = grey(orig), grey(blur_image(orig, boxes, full))
    assert hf_energy(b) < 0.02 * hf_energy(a)
    assert abs(correlation(a, b)) < 0.1


def test_several_regions_and_proto_boxes():
    """The gateway passes proto BoundingBox messages; they work like the domain type."""
    orig = synthetic.encode(detailed(), "PNG")
    boxes = [
        common_pb2.BoundingBox(left=0.0, top=0.0, width=0.3, height=0.3),
        common_pb2.BoundingBox(left=0.6, top=0.6, width=0.4, height=0.4),
    ]
    out = grey(blur_image(orig, boxes, False))
    src = grey(orig)
    for b in boxes:
        assert hf_energy(crop(out, b)) < 0.03 * hf_energy(crop(src, b))
    # The middle, outside both boxes, is untouched.
    assert np.array_equal(out[200:290, 200:290], src[200:290, 200:290])


def test_boxes_outside_the_image_are_clipped():
    orig = synthetic.encode(detailed(), "PNG")
    out = blur_image(orig, [BoundingBox(0.8, 0.8, 0.5, 0.5)], False)
    assert Image.open(io.BytesIO(out)).size == (512, 512)


def test_corrupt_input_is_invalid_argument():
    with pytest.raises(InvalidArgument, match="corrupt or truncated"):
        blur_image(synthetic.encode(detailed(), "PNG")[:500], None, True)
    with pytest.raises(InvalidArgument):
        blur_image(b"GIF89a" + b"\x00" * 100, None, True)
