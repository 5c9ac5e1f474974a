"""Category backends for text: the local classifier, Amazon Comprehend and Bedrock ApplyGuardrail, one contract.

A backend scores a text for the six categories and returns a TextAssessment (scores with confidences,
plus any banned-word matches the service itself reports, as Bedrock does). The engine applies the
guardrail; backends never decide.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from safegen.core.types import Level, Source, TextAssessment


class CategoryBackend(Protocol):
    """Scores texts for the six categories. `name` is reported in every response."""

    name: str

    def assess(self, text: str, source: Source) -> TextAssessment: ...


def level_of(score: float, thresholds: Sequence[float]) -> Level:
    """Score -> confidence with (low, medium, high) thresholds: below `low` is NONE."""
    low, medium, high = thresholds
    if score >= high:
        return Level.HIGH
    if score >= medium:
        return Level.MEDIUM
    if score >= low:
        return Level.LOW
    return Level.NONE
