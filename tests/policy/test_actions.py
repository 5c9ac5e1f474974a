"""Detect-only policies (inputAction/outputAction NONE), SHADOW mode, denied topics and sensitive information in
the text moderator, and per-request tightening."""

from __future__ import annotations

import pytest

from safegen.core.types import Category, Level, Modality, Source
from safegen.errors import InvalidArgument
from safegen.policy import GuardrailConfigError, GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from safegen.text.moderator import TextModerator

from policy_helpers import FixedBackend, HashEncoder

C, L = Category, Level


def _moderator(doc, backend=None):
    g = parse_guardrail(doc, "t.yaml", "t")
    reg = GuardrailRegistry(GuardrailRegistry.load().all() + [g])
    mod = TextModerator(reg, backend or FixedBackend(), encoder=HashEncoder())
    reg.add_preparer(mod.prepare)
    return mod


FILTERS = {
    "contentPolicyConfig": {
        "filtersConfig": [
            {"type": "SEXUAL", "inputStrength": "HIGH", "outputStrength": "HIGH", "inputAction": "NONE"},
            {"type": "VIOLENCE", "inputStrength": "HIGH", "outputStrength": "HIGH"},
        ]
    }
}


def test_detect_only_filter_reports_but_does_not_intervene():
    mod = _moderator({"id": "t", **FILTERS}, FixedBackend({C.SEXUAL: L.HIGH}))
    v = mod.moderate("x", Source.INPUT, "t")
    [sexual] = [f for f in v.filters if f.category == C.SEXUAL]
    assert sexual.detected and not sexual.enforced and not sexual.intervenes
    assert not v.intervened and not v.blocked and v.detected
    # outputAction is still BLOCK.
    out = mod.moderate("x", Source.OUTPUT, "t")
    assert out.blocked and out.intervened


def test_enforcing_filter_still_blocks_next_to_a_detect_only_one():
    v = _moderator({"id": "t", **FILTERS}, FixedBackend({C.SEXUAL: L.HIGH, C.VIOLENCE: L.HIGH})).moderate(
        "x", Source.INPUT, "t"
    )
    assert v.blocked and [f.category for f in v.filters if f.intervenes] == [C.VIOLENCE]


def test_shadow_mode_evaluates_everything_and_intervenes_on_nothing():
    doc = {
        "id": "t",
        **FILTERS,
        "safegen": {"mode": "SHADOW"},
        "wordPolicyConfig": {"wordsConfig": [{"text": "dragon"}]},
        "topicPolicyConfig": {"topicsConfig": [{"name": "Dragons", "definition": "dragon mail example"}]},
        "sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}, {"type": "PHONE", "action": "BLOCK"}]
        },
    }
    v = _moderator(doc, FixedBackend({C.VIOLENCE: L.HIGH})).moderate(
        "a dragon, mail a@example.com or 555-123-4567", Source.INPUT, "t"
    )
    assert not v.intervened and not v.blocked and v.anonymized_text == "" and v.shadow
    assert v.detected
    assert [w.word for w in v.words] == ["dragon"] and not any(w.enforced for w in v.words)
    assert [f.category for f in v.filters if f.detected] == [C.VIOLENCE] and not any(f.enforced for f in v.filters)
    assert [t.name for t in v.topics if t.detected] == ["Dragons"]
    assert [s.name for s in v.sensitive] == ["EMAIL", "PHONE"]


def test_word_actions_per_word_and_for_the_managed_list():
    doc = {
        "id": "t",
        "wordPolicyConfig": {
            "managedWordListsConfig": [{"type": "PROFANITY", "inputAction": "NONE"}],
            "wordsConfig": [
                {"text": "dragon"},
                {"text": "unicorn", "inputAction": "NONE"},
                {"text": "griffin", "inputEnabled": False},
            ],
        },
    }
    mod = _moderator(doc)
    v = mod.moderate("a dragon, a unicorn, a griffin and shit", Source.INPUT, "t")
    assert {(w.word, w.enforced) for w in v.words} == {("dragon", True), ("unicorn", False), ("shit", False)}
    assert v.blocked
    v = mod.moderate("a unicorn and a griffin", Source.INPUT, "t")
    assert not v.blocked and v.detected and [w.word for w in v.words] == ["unicorn"]
    # Output: every word and the managed list block, griffin included.
    out = mod.moderate("a griffin and shit", Source.OUTPUT, "t")
    assert {(w.word, w.enforced) for w in out.words} == {("griffin", True), ("shit", True)}


def test_topics_block_or_detect_per_source():
    doc = {
        "id": "t",
        "topicPolicyConfig": {
            "topicsConfig": [  # bag-of-words encoder: plain cosine at 0.5
                {"name": "Dragons", "definition": "dragon wyrm drake", "examples": ["a red dragon"]},
                {"name": "Ships", "definition": "ship boat sail", "inputAction": "NONE"},
            ]
        },
    }
    mod = _moderator(doc)
    v = mod.moderate("a red dragon", Source.INPUT, "t")
    assert [(t.name, t.detected) for t in v.topics] == [("Dragons", True), ("Ships", False)] and v.blocked
    v = mod.moderate("a ship boat at sail", Source.INPUT, "t")
    assert [t.name for t in v.topics if t.detected] == ["Ships"] and not v.blocked and v.detected


def test_anonymize_rewrites_and_block_blocks():
    doc = {
        "id": "t",
        "sensitiveInformationPolicyConfig": {
            "piiEntitiesConfig": [
                {"type": "EMAIL", "action": "ANONYMIZE"},
                {"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK"},
                {"type": "URL", "action": "NONE"},
            ]
        },
    }
    mod = _moderator(doc)
    v = mod.moderate("a poster saying mail me at kim@example.org, see https://x.io", Source.INPUT, "t")
    assert v.intervened and not v.blocked
    assert v.anonymized_text == "a poster saying mail me at {EMAIL}, see https://x.io"
    v = mod.moderate("ssn 123-45-6789 and kim@example.org", Source.INPUT, "t")
    assert v.blocked and v.anonymized_text == "ssn 123-45-6789 and {EMAIL}"
    v = mod.moderate("just https://x.io", Source.INPUT, "t")
    assert not v.intervened and v.detected and [s.name for s in v.sensitive] == ["URL"]


@pytest.mark.parametrize(
    "doc,fragment",
    [
        ({"contentPolicyConfig": {"filtersConfig": [{"type": "SEXUAL", "inputAction": "WARN"}]}}, "inputAction"),
        ({"wordPolicyConfig": {"wordsConfig": [{"text": "x", "outputAction": "ANONYMIZE"}]}}, "outputAction"),
        ({"wordPolicyConfig": {"wordsConfig": [{"text": "x", "colour": "red"}]}}, "unknown key"),
        ({"safegen": {"mode": "LOUD"}}, "safegen.mode"),
        ({"safegen": {"topicThreshold": 0}}, "topicThreshold"),
        ({"topicPolicyConfig": {"topicsConfig": [{"name": "x", "definition": "d" * 201}]}}, "1-200 characters"),
        (
            {"topicPolicyConfig": {"topicsConfig": [{"name": "x", "definition": "d", "examples": ["e"] * 6}]}},
            "at most 5",
        ),
        ({"topicPolicyConfig": {"topicsConfig": [{"name": "x", "definition": "d", "type": "ALLOW"}]}}, "not DENY"),
        (
            {
                "topicPolicyConfig": {
                    "topicsConfig": [{"name": "x", "definition": "d"}, {"name": "X", "definition": "e"}]
                }
            },
            "twice",
        ),
        ({"topicPolicyConfig": {"topicsConfig": [{"name": "a/b", "definition": "d"}]}}, "letters, digits"),
        (
            {"topicPolicyConfig": {"topicsConfig": [{"name": "x", "definition": "d", "inputAction": "ANONYMIZE"}]}},
            "inputAction",
        ),
    ],
)
def test_bad_action_and_topic_config_is_refused_with_the_key(doc, fragment):
    with pytest.raises(GuardrailConfigError, match=fragment):
        parse_guardrail({"id": "t", **doc}, "bad.yaml", "bad")


def test_tightening_is_stricter_only_and_for_one_call():
    reg = GuardrailRegistry.load()
    mod = TextModerator(reg, FixedBackend({C.HATE: L.LOW}))
    assert not mod.moderate("x", Source.INPUT, "permissive-warn").blocked  # MEDIUM strength ignores LOW
    v = mod.moderate("x", Source.INPUT, "permissive-warn", tighten={C.HATE: (L.HIGH, None)})
    assert v.blocked and [f.strength for f in v.filters if f.category == C.HATE] == [L.HIGH]
    assert not mod.moderate("x", Source.INPUT, "permissive-warn").blocked  # the guardrail itself is unchanged
    with pytest.raises(InvalidArgument, match="HATE input strength LOW is looser than guardrail 'permissive-warn'"):
        mod.moderate("x", Source.INPUT, "permissive-warn", tighten={C.HATE: (L.LOW, None)})
    with pytest.raises(InvalidArgument, match="PROMPT_ATTACK applies to input only"):
        mod.moderate("x", Source.INPUT, "", tighten={C.PROMPT_ATTACK: (None, L.HIGH)})
    # A category the guardrail leaves off can be switched on for a call.
    g = parse_guardrail({"id": "t"}, "t.yaml", "t").tightened({C.SEXUAL: (L.LOW, L.MEDIUM)})
    assert g.strength(C.SEXUAL, Source.INPUT, Modality.IMAGE) == L.LOW
    assert g.strength(C.SEXUAL, Source.OUTPUT, Modality.TEXT) == L.MEDIUM
