"""Helpers for the image tests: encoders for small drawn images and a detector double."""

from __future__ import annotations

import numpy as np
from PIL import Image

from safegen.core.types import BoundingBox, Category, CategoryScore, ImageAssessment, Label, Level
from safegen.training import synthetic_images as synthetic


def png(img: Image.Image | None = None, size=(64, 48)) -> bytes:
    return synthetic.encode(img or synthetic.gradient(1, size[0]).resize(size), "PNG")


def jpeg(img: Image.Image | None = None, size=(64, 48)) -> bytes:
    return synthetic.encode(img or synthetic.gradient(2, size[0]).resize(size), "JPEG", quality=90)


class RedIsSexual:
    """ImageDetector double: an image whose working copy is mostly red is SEXUAL at HIGH with a box on the
    red area; everything else is clean. Records every call so tests can prove nothing ran."""

    name = "fake"
    needs_decoded = True

    def __init__(self):
        self.calls: list[int] = []

    def assess(self, images, source=None):
        self.calls.append(len(images))
        out = []
        for v in images:
            arr = np.asarray(v.working, dtype=np.int16)
            red = (arr[..., 0] > 180) & (arr[..., 1] < 80) & (arr[..., 2] < 80)
            scores, labels = {}, []
            if red.mean() > 0.05:
                ys, xs = np.nonzero(red)
                h, w = red.shape
                box = BoundingBox(
                    xs.min() / w, ys.min() / h, (xs.max() + 1 - xs.min()) / w, (ys.max() + 1 - ys.min()) / h
                )
                scores[Category.SEXUAL] = CategoryScore(Category.SEXUAL, 0.97, Level.HIGH)
                labels = [
                    Label("Explicit", "", 97.0, 1, Category.SEXUAL),
                    Label("Explicit Nudity", "Explicit", 97.0, 2, Category.SEXUAL, box),
                ]
            out.append(
                ImageAssessment(
                    scores=scores, labels=labels, format=v.format, width=v.width, height=v.height, backend=self.name
                )
            )
        return out
