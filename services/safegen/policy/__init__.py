"""Guardrail policies: Bedrock CreateGuardrail-shaped YAML, loaded, validated and applied."""

from safegen.policy.guardrail import (  # noqa: F401
    BlurMode,
    ContentFilter,
    Guardrail,
    GuardrailConfigError,
    GuardrailRegistry,
    ImageAction,
    PromptAction,
)
