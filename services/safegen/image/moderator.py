"""ImageModerator: validates a request against the limits, runs the detector and applies the guardrail (no grpc)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

from prometheus_client import Counter, Histogram

from safegen.core.types import CATEGORIES, Category, FilterVerdict, Label, Modality, Source
from safegen.image.backends.base import ImageDetector
from safegen.image.limits import MB
from safegen.image.limits import (DecodeBudget, ImageLimits, RateLimiter, ValidImage, check_count, check_header,
                                  decode_within)
from safegen.policy import GuardrailRegistry

#: Categories that apply to images, in Category order (prompt attacks are text-only).
IMAGE_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c != Category.PROMPT_ATTACK)

DETECT_SECONDS = Histogram(
    "safegen_image_detect_seconds", "Detector time per image (decode excluded)", ["backend"],
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56))
REJECTED = Counter("safegen_image_rejected_total", "Image requests refused by an input limit", ["reason"])



@dataclass(frozen=True)
class ImageVerdict:
    """The guardrail's verdict on one image."""

    index: int
    intervened: bool
    filters: list[FilterVerdict]
    labels: list[Label]
    format: str
    width: int
    height: int


class ImageModerator:
    """Validates a whole request against the limits, runs the detector, applies the guardrail."""

    def __init__(self, detector: ImageDetector, registry: GuardrailRegistry, limits: ImageLimits | None = None,
                 min_confidence: float = 0.0, rate_limiter: RateLimiter | None = None):
        self.detector = detector
        self.registry = registry
        self.limits = limits or ImageLimits()
        self.min_confidence = min_confidence
        self.rate = rate_limiter or self._new_rate("per process")
        self._rates: dict[str, RateLimiter] = {}  # caller id -> its own image budget
        self.decode_budget = DecodeBudget(self.limits.decode_budget_mb * MB, self.limits.decode_wait_s)

    def _new_rate(self, scope: str) -> RateLimiter:
        return RateLimiter(self.limits.rate_per_s, capacity=max(self.limits.rate_per_s, self.limits.max_images),
                           scope=scope)

    def _rate_for(self, caller: str | None) -> RateLimiter | None:
        if caller is None:
            return None  # this process's own gateway: its images were paid for by the request that made them
        if caller == "":
            return self.rate
        rate = self._rates.get(caller)
        if rate is None:
            rate = self._rates.setdefault(caller, self._new_rate(f"for API key {caller!r}"))
        return rate

    @property
    def backend(self) -> str:
        return self.detector.name

    def admit(self, images: Sequence[bytes], guardrail_id: str = "", caller: str | None = "") -> list[ValidImage]:
        """The cheap checks, before the request waits for a worker: guardrail, count, the caller's image
        rate, and every header (format, bytes, dimensions) without decoding a pixel.

        `caller`: "" the shared budget (no API keys), a key id its own budget, None not charged (internal)."""
        self.registry.get(guardrail_id)  # NOT_FOUND before any work
        try:
            check_count(images, self.limits)
            rate = self._rate_for(caller)
            if rate is not None:
                rate.acquire(len(images))
            return [check_header(i, data, self.limits) for i, data in enumerate(images)]
        except Exception as e:
            REJECTED.labels(type(e).__name__).inc()
            raise

    def moderate(self, images: Sequence[bytes], source: Source = Source.OUTPUT,
                 guardrail_id: str = "", caller: str | None = "") -> list[ImageVerdict]:
        return self.judge(self.admit(images, guardrail_id, caller), source, guardrail_id)

    def judge(self, valid: list[ValidImage], source: Source = Source.OUTPUT,
              guardrail_id: str = "") -> list[ImageVerdict]:
        """Decodes (within the process's decode budget), runs the detector and applies the guardrail."""
        guardrail = self.registry.get(guardrail_id)
        if getattr(self.detector, "needs_decoded", True):
            try:
                for v in valid:  # every image decodes before any detector runs: corrupt data fails the whole request
                    v.working = decode_within(v, self.decode_budget)
            except Exception as e:
                REJECTED.labels(type(e).__name__).inc()
                raise
        t0 = time.perf_counter()
        assessments = self.detector.assess(valid, source)
        DETECT_SECONDS.labels(self.backend).observe((time.perf_counter() - t0) / max(1, len(valid)))
        verdicts = []
        for v, a in zip(valid, assessments, strict=True):
            filters = guardrail.evaluate(a.scores, source, Modality.IMAGE, IMAGE_CATEGORIES)
            detected = {f.category for f in filters if f.detected}
            labels = [lb for lb in a.labels if lb.confidence >= self.min_confidence or lb.category in detected]
            boxed = {lb.category for lb in labels if lb.box is not None}
            if detected - boxed and boxed & detected:
                # Regions are only useful if they cover every intervening category: a caller blurring the
                # regions of SEXUAL would otherwise leave an unlocalized VIOLENCE verdict unblurred.
                labels = [replace(lb, box=None) for lb in labels]
            verdicts.append(ImageVerdict(v.index, bool(detected), filters, labels, v.format, v.width, v.height))
        return verdicts
