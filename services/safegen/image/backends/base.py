"""The ImageDetector protocol every image backend implements (local ONNX models, Rekognition, Bedrock, test doubles)."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from safegen.core.types import ImageAssessment, Source
from safegen.image.limits import ValidImage


@runtime_checkable
class ImageDetector(Protocol):
    """Assesses validated images: one ImageAssessment (category scores with confidences, labels) per image.

    `name` is what responses report as the backend ("local", "rekognition", "bedrock").
    `source` is where the images come from (Bedrock applies its guardrail's input or output side).
    `needs_decoded` tells the moderator whether to decode a working copy first (managed backends
    send the original bytes and need no decode). Implementations are thread-safe and blocking.
    Optional: `coverage()` -> list of backends.coverage.Coverage (what it looks for per category; without it a
    detector is reported as covering nothing, except the AWS backends, see coverage.coverage_of), and
    `detectors` (names; "ocr" among them means assessments carry text_lines for the moderator to judge).
    """

    name: str
    needs_decoded: bool

    def assess(self, images: Sequence[ValidImage], source: Source = Source.OUTPUT) -> list[ImageAssessment]: ...
