"""Benign, photo-like images drawn with PIL: the negatives for tests, benchmarks and threshold calibration.

No real photographs can be downloaded here, so these stand in for everyday content a generator
produces: skies, landscapes, textures, cities, shapes, documents, and skin-toned surfaces (the
hard negatives for nudity models: large smooth skin-coloured areas that are not people).
Every family is seeded, so a test that fails names the exact image that failed.
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512

#: Skin-like tones (light to dark), the colours nudity classifiers react to.
SKIN = [(241, 194, 167), (224, 172, 138), (198, 134, 96), (161, 102, 70), (110, 70, 48), (255, 219, 196)]


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _colour(r: random.Random) -> tuple[int, int, int]:
    return (r.randrange(256), r.randrange(256), r.randrange(256))


def _vertical_gradient(size: tuple[int, int], top, bottom) -> Image.Image:
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    arr = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return Image.fromarray(np.broadcast_to(arr, (h, w, 3)).astype(np.uint8), "RGB")


def gradient(seed: int, size: int = SIZE) -> Image.Image:
    """A linear gradient at a random angle between two random colours."""
    r = _rng(seed)
    a, b = np.asarray(_colour(r), np.float32), np.asarray(_colour(r), np.float32)
    ang = r.uniform(0, math.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t = x * math.cos(ang) + y * math.sin(ang)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    arr = a * (1 - t[..., None]) + b * t[..., None]
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def noise_texture(seed: int, size: int = SIZE) -> Image.Image:
    """Multi-octave value noise tinted with two colours: bark, stone, clouds, fabric."""
    nr = np.random.default_rng(seed)
    acc = np.zeros((size, size), np.float32)
    for octave, weight in ((4, 1.0), (16, 0.5), (64, 0.25), (256, 0.125)):
        small = Image.fromarray((nr.random((octave, octave)) * 255).astype(np.uint8), "L")
        acc += np.asarray(small.resize((size, size), Image.BICUBIC), np.float32) / 255 * weight
    acc = (acc - acc.min()) / max(1e-6, float(acc.max() - acc.min()))
    r = _rng(seed)
    a, b = np.asarray(_colour(r), np.float32), np.asarray(_colour(r), np.float32)
    arr = a * (1 - acc[..., None]) + b * acc[..., None]
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def landscape(seed: int, size: int = SIZE) -> Image.Image:
    """Sky, sun, layered mountains, a lake or meadow, and a few trees."""
    r = _rng(seed)
    sky_top = (r.randrange(20, 120), r.randrange(60, 160), r.randrange(150, 255))
    sky_bottom = (r.randrange(180, 255), r.randrange(150, 230), r.randrange(120, 220))
    img = _vertical_gradient((size, size), sky_top, sky_bottom)
    d = ImageDraw.Draw(img)
    sx, sy, sr = r.randrange(size), r.randrange(size // 6, size // 2), r.randrange(size // 20, size // 8)
    d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=(255, r.randrange(200, 255), r.randrange(100, 200)))
    horizon = r.randrange(size // 2, 3 * size // 4)
    for layer in range(3):
        base = horizon + layer * size // 20
        shade = 60 + layer * 30
        pts = [(0, size)]
        x = 0
        while x <= size:
            pts.append((x, base - r.randrange(size // 10, size // 3) // (layer + 1)))
            x += r.randrange(size // 12, size // 5)
        pts += [(size, base), (size, size)]
        d.polygon(pts, fill=(shade // 2, shade, shade // 2 + r.randrange(40)))
    ground = (r.randrange(30, 90), r.randrange(100, 170), r.randrange(30, 80)) if r.random() < 0.6 else (40, 90, 160)
    d.rectangle((0, horizon + size // 8, size, size), fill=ground)
    for _ in range(r.randrange(2, 7)):
        tx, ty = r.randrange(size), r.randrange(horizon + size // 8, size)
        th = r.randrange(size // 12, size // 5)
        d.rectangle((tx - 3, ty - th // 3, tx + 3, ty), fill=(80, 50, 30))
        crown = [(tx - th // 3, ty - th // 3), (tx + th // 3, ty - th // 3), (tx, ty - th)]
        d.polygon(crown, fill=(20, 90 + r.randrange(60), 30))
    return img.filter(ImageFilter.GaussianBlur(0.8))


def city(seed: int, size: int = SIZE) -> Image.Image:
    """A skyline of buildings with lit windows against a dusk sky."""
    r = _rng(seed)
    img = _vertical_gradient((size, size), (20, 20, 60), (200, 120, 90))
    d = ImageDraw.Draw(img)
    x = 0
    while x < size:
        w = r.randrange(size // 12, size // 5)
        h = r.randrange(size // 5, int(size * 0.8))
        g = r.randrange(30, 90)
        d.rectangle((x, size - h, x + w, size), fill=(g, g, g + 10))
        for wy in range(size - h + 8, size - 8, 14):
            for wx in range(x + 5, x + w - 8, 12):
                if r.random() < 0.5:
                    d.rectangle((wx, wy, wx + 5, wy + 7), fill=(250, 220, 120))
        x += w + r.randrange(0, 6)
    return img


def shapes(seed: int, size: int = SIZE) -> Image.Image:
    """Coloured circles, squares and triangles on a plain background (what the bundled model draws)."""
    r = _rng(seed)
    img = Image.new("RGB", (size, size), _colour(r))
    d = ImageDraw.Draw(img)
    for _ in range(r.randrange(1, 6)):
        cx, cy, s = r.randrange(size), r.randrange(size), r.randrange(size // 10, size // 3)
        kind = r.randrange(3)
        if kind == 0:
            d.ellipse((cx - s, cy - s, cx + s, cy + s), fill=_colour(r))
        elif kind == 1:
            d.rectangle((cx - s, cy - s, cx + s, cy + s), fill=_colour(r))
        else:
            d.polygon([(cx, cy - s), (cx - s, cy + s), (cx + s, cy + s)], fill=_colour(r))
    return img


def document(seed: int, size: int = SIZE) -> Image.Image:
    """A page of 'text': dark line segments on paper, with a heading bar."""
    r = _rng(seed)
    img = Image.new("RGB", (size, size), (248, 246, 240))
    d = ImageDraw.Draw(img)
    d.rectangle((30, 24, size - 30, 50), fill=(40, 60, 120))
    y = 70
    while y < size - 20:
        x = 30
        while x < size - 40:
            w = r.randrange(12, 60)
            d.rectangle((x, y, min(x + w, size - 30), y + 6), fill=(30, 30, 30))
            x += w + 8
        y += 16
    return img


def stripes(seed: int, size: int = SIZE) -> Image.Image:
    """Stripes or a checkerboard in random colours: strong high-frequency content."""
    r = _rng(seed)
    a, b = _colour(r), _colour(r)
    period = r.randrange(6, 64)
    y, x = np.mgrid[0:size, 0:size]
    mask = ((x // period + (y // period if r.random() < 0.5 else 0)) % 2).astype(bool)
    arr = np.where(mask[..., None], np.asarray(a, np.uint8), np.asarray(b, np.uint8))
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def skin_surface(seed: int, size: int = SIZE) -> Image.Image:
    """Hard negative: smooth skin-toned shading (sand dunes, wood, a wall) with soft blobs, no people."""
    r = _rng(seed)
    tone = np.asarray(SKIN[seed % len(SKIN)], np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    shade = 0.75 + 0.25 * np.sin(x * r.uniform(2, 8) + y * r.uniform(1, 5) + r.uniform(0, 6))
    arr = np.clip(tone * shade[..., None], 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(r.randrange(1, 4)):
        cx, cy, s = r.randrange(size), r.randrange(size), r.randrange(size // 8, size // 3)
        t = tuple(int(c * r.uniform(0.8, 1.1)) for c in tone)
        d.ellipse((cx - s, cy - s // 2, cx + s, cy + s // 2), fill=t)
    return img.filter(ImageFilter.GaussianBlur(6))


FAMILIES = {
    "gradient": gradient,
    "noise": noise_texture,
    "landscape": landscape,
    "city": city,
    "shapes": shapes,
    "document": document,
    "stripes": stripes,
    "skin_surface": skin_surface,
}


def benign_set(per_family: int, size: int = SIZE, families=None) -> list[tuple[str, Image.Image]]:
    """(name, image) pairs, `per_family` of each family, named "family-seed"."""
    out = []
    for fam in families or FAMILIES:
        for seed in range(per_family):
            out.append((f"{fam}-{seed}", FAMILIES[fam](seed, size)))
    return out


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    """Encodes a PIL image to bytes (PNG at compress level 1 by default: fast for tests)."""
    buf = io.BytesIO()
    if fmt.upper() == "PNG":
        kwargs.setdefault("compress_level", 1)
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()
