"""Guardrail policies: Bedrock CreateGuardrail-shaped YAML, loaded, validated, versioned, hot-reloaded and applied."""

from safegen.policy.actions import FilterAction, GuardrailMode  # noqa: F401
from safegen.policy.guardrail import (  # noqa: F401
    DRAFT,
    BlurMode,
    ContentFilter,
    Guardrail,
    GuardrailConfigError,
    ImageAction,
    PromptAction,
)
from safegen.policy.registry import GuardrailRegistry, parse_version  # noqa: F401

__all__ = [
    "DRAFT",
    "BlurMode",
    "ContentFilter",
    "FilterAction",
    "Guardrail",
    "GuardrailConfigError",
    "GuardrailMode",
    "GuardrailRegistry",
    "ImageAction",
    "PromptAction",
    "parse_version",
]
