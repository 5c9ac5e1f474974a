"""Category backends for text: the local classifier, Amazon Comprehend and Bedrock ApplyGuardrail, one contract.

A backend scores a text for the six categories and returns a TextAssessment (scores with confidences,
plus any banned-word matches the service itself reports, as Bedrock does). The engine applies the
guardrail; backends never decide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Protocol

from safegen.core.types import Source, TextAssessment

if TYPE_CHECKING:
    from safegen.text.settings import TextSettings


class CategoryBackend(Protocol):
    """Scores texts for the six categories. `name` is reported in every response."""

    name: str

    def assess(self, text: str, source: Source) -> TextAssessment: ...


def build_backend(settings: TextSettings, env: Mapping[str, str] | None = None, client=None) -> CategoryBackend:
    """The backend the settings ask for; models and AWS clients are created here, at start."""
    from safegen.text.settings import TextBackendKind

    if settings.backend == TextBackendKind.LOCAL:
        from safegen.text.backends.local import load_local

        return load_local(env, settings.require_classifier)
    from safegen.core.settings import AwsSettings

    aws = AwsSettings.from_env(env)
    if settings.backend == TextBackendKind.COMPREHEND:
        from safegen.text.backends.comprehend import ComprehendBackend

        return ComprehendBackend(
            client or aws.client("comprehend"),
            settings.comprehend_endpoint_arn,
            settings.comprehend_thresholds,
            settings.comprehend_class_map,
            settings.comprehend_language,
        )
    from safegen.text.backends.bedrock import BedrockBackend

    return BedrockBackend(
        client or aws.client("bedrock-runtime"), settings.bedrock_guardrail_id, settings.bedrock_guardrail_version
    )
