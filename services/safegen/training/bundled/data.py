"""Synthetic training data for the bundled model: PIL-rendered shapes with captions in words.

Every attribute left out of a caption is still drawn at random, so a partial prompt ("a red
circle") means "any of the matching images", and one-word captions keep one-word negative
prompts ("blue") inside what the model has seen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from safegen.generation.bundled.model import COLOURS, POSITIONS, SHAPES, SIZES

RGB = {
    "red": (230, 25, 25),
    "green": (30, 170, 50),
    "blue": (30, 60, 225),
    "yellow": (245, 215, 30),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}

NATIVE = 32
# Drawn at 4x and box-filtered down, so edges are anti-aliased like a real downscaled image.
SUPERSAMPLE = 4

# Shape centres in native pixels.
CENTRES = {"center": (16, 16), "left": (9, 16), "right": (23, 16), "top": (16, 9), "bottom": (16, 23)}
# Half-extent ranges in native pixels.
HALF_EXTENT = {"small": (5, 7), "large": (9, 12)}


@dataclass(frozen=True)
class Scene:
    fg: str
    bg: str
    shape: str
    position: str
    size: str


def random_scene(rng: random.Random) -> Scene:
    fg = rng.choice(COLOURS)
    bg = rng.choice([c for c in COLOURS if c != fg])
    return Scene(fg, bg, rng.choice(SHAPES), rng.choice(tuple(POSITIONS)), rng.choice(SIZES))


def render(scene: Scene, rng: random.Random) -> Image.Image:
    s = SUPERSAMPLE
    img = Image.new("RGB", (NATIVE * s, NATIVE * s), RGB[scene.bg])
    draw = ImageDraw.Draw(img)
    cx, cy = CENTRES[scene.position]
    cx, cy = (cx + rng.uniform(-2, 2)) * s, (cy + rng.uniform(-2, 2)) * s
    r = rng.uniform(*HALF_EXTENT[scene.size]) * s
    colour = RGB[scene.fg]
    if scene.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif scene.shape == "square":
        h = r * 0.85  # a square of the same half-extent looks much bigger than the circle
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=colour)
    return img.resize((NATIVE, NATIVE), Image.Resampling.BOX)


def full_caption(scene: Scene) -> str:
    return f"a {scene.fg} {scene.shape} on a {scene.bg} background"


def random_caption(scene: Scene, rng: random.Random) -> str:
    """A caption describing `scene`, with parts randomly left out or padded with unknown words."""
    roll = rng.random()
    if roll < 0.10:
        # Caption dropout: the unconditional input for classifier-free guidance. Half of it is
        # unknown words only, which is what the guardrail's safety negative prompt
        # ("nsfw, gore, ...") becomes under this vocabulary.
        return "" if rng.random() < 0.5 else " ".join(["zzz"] * rng.randint(1, 8))
    if roll < 0.16:
        # One word: the form most negative prompts take. A colour may name either role.
        kind = rng.random()
        if kind < 0.4:
            return scene.fg
        if kind < 0.7:
            return scene.bg
        return scene.shape
    parts = ["a"]
    if rng.random() < 0.3:
        parts.append(scene.size)
    if rng.random() > 0.1:
        parts.append(scene.fg)
    parts.append(scene.shape if rng.random() > 0.1 else "shape")
    if rng.random() < 0.4:
        parts.append(POSITIONS[scene.position])
    if rng.random() > 0.15:
        parts.append(f"on a {scene.bg} background")
    text = " ".join(parts)
    if rng.random() < 0.1:
        # Unknown words appended, as when safety negatives are merged into a caller's prompt.
        text += ", " + " ".join(["zzz"] * rng.randint(1, 6))
    return text


def batch(size: int, rng: random.Random) -> tuple[np.ndarray, list[str]]:
    """Returns images as float32 [size, 3, 32, 32] in [-1, 1] and their captions."""
    images = np.empty((size, 3, NATIVE, NATIVE), dtype=np.float32)
    captions = []
    for i in range(size):
        scene = random_scene(rng)
        arr = np.asarray(render(scene, rng), dtype=np.float32)
        images[i] = arr.transpose(2, 0, 1) / 127.5 - 1.0
        captions.append(random_caption(scene, rng))
    return images, captions
