"""What an ApplyGuardrail call processed, per policy, as Bedrock reports it (usage and guardrailCoverage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from safegen.core.types import Level, Modality, Source
from safegen.policy.guardrail import Guardrail
from safegen.policy.pii import RuleKind

#: Bedrock bills text in units of up to 1,000 characters per text block.
CHARS_PER_UNIT = 1000


@dataclass(frozen=True)
class Usage:
    topic_policy_units: int = 0
    content_policy_units: int = 0
    word_policy_units: int = 0
    sensitive_information_policy_units: int = 0
    sensitive_information_policy_free_units: int = 0
    contextual_grounding_policy_units: int = 0
    content_policy_image_units: int = 0
    text_characters_guarded: int = 0
    text_characters_total: int = 0
    images_guarded: int = 0
    images_total: int = 0


def _units(lengths: Sequence[int]) -> int:
    return sum(-(-n // CHARS_PER_UNIT) for n in lengths)


def usage(guardrail: Guardrail, text_lengths: Sequence[int], images: int, source: Source) -> Usage:
    """Units each configured policy processed for these text blocks (by length) and images."""
    output = source == Source.OUTPUT
    units = _units(text_lengths)
    text_filters = any(f.strength(source, Modality.TEXT) > Level.NONE for f in guardrail.filters.values())
    image_filters = any(f.strength(source, Modality.IMAGE) > Level.NONE for f in guardrail.filters.values())
    topics = any(t.action(output) is not None for t in guardrail.topics)
    custom_enabled = any(a[1 if output else 0] is not None for a in guardrail.custom_word_actions) or (
        bool(guardrail.custom_words) and not guardrail.custom_word_actions
    )
    words = guardrail.managed_action(source) is not None or custom_enabled
    rules = [r for r in guardrail.sensitive if r.action(output) is not None]
    pii = any(r.kind == RuleKind.PII for r in rules)
    regex_only = bool(rules) and not pii
    guarded_chars = sum(text_lengths) if (text_filters or topics or words or rules) else 0
    return Usage(
        topic_policy_units=units if topics else 0,
        content_policy_units=units if text_filters else 0,
        word_policy_units=units if words else 0,
        sensitive_information_policy_units=units if pii else 0,
        sensitive_information_policy_free_units=units if regex_only else 0,
        content_policy_image_units=images if image_filters else 0,
        text_characters_guarded=guarded_chars,
        text_characters_total=sum(text_lengths),
        images_guarded=images if image_filters else 0,
        images_total=images,
    )
