"""Category backends for text: the local classifier, Amazon Comprehend and Bedrock ApplyGuardrail, one contract.

A backend scores a text for the six categories and returns a TextAssessment (scores with confidences,
plus any banned-word matches the service itself reports, as Bedrock does). The engine applies the
guardrail; backends never decide.
"""

from __future__ import annotations

from typing import Protocol

from safegen.core.types import Source, TextAssessment


class CategoryBackend(Protocol):
    """Scores texts for the six categories. `name` is reported in every response."""

    name: str

    def assess(self, text: str, source: Source) -> TextAssessment: ...
