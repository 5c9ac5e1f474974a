"""The documented example guardrail loads and uses every feature the README's Guardrails section lists."""

from __future__ import annotations

from pathlib import Path

from safegen.core.types import Category, Source
from safegen.policy import FilterAction, GuardrailMode, GuardrailRegistry
from safegen.policy.pii import RuleKind, SensitiveAction

EXAMPLES = Path(__file__).resolve().parents[2] / "services/safegen/policy/examples"


def test_example_loads_and_uses_every_feature():
    reg = GuardrailRegistry.load(EXAMPLES)
    g = reg.get("everything", "1")
    assert g.version == 1 and g.mode == GuardrailMode.ENFORCE
    assert g.filters[Category.INSULTS].action(Source.INPUT) == FilterAction.NONE  # a detect-only filter
    assert g.managed_profanity and g.managed_actions == (FilterAction.BLOCK, FilterAction.NONE)
    assert FilterAction.NONE in {a[0] for a in g.custom_word_actions}
    assert {t.name for t in g.topics} >= {"Political figures", "Gambling"}
    assert any(t.input_action == FilterAction.NONE for t in g.topics)
    kinds = {(r.kind, r.name) for r in g.sensitive}
    assert {
        (RuleKind.PII, n)
        for n in (
            "EMAIL",
            "PHONE",
            "CREDIT_DEBIT_CARD_NUMBER",
            "IP_ADDRESS",
            "URL",
            "US_SOCIAL_SECURITY_NUMBER",
            "AWS_ACCESS_KEY",
            "AWS_SECRET_KEY",
            "PASSWORD",
        )
    } <= kinds
    assert (RuleKind.REGEX, "ORDER_ID") in kinds
    assert {r.action(False) for r in g.sensitive} == {
        SensitiveAction.BLOCK,
        SensitiveAction.ANONYMIZE,
        SensitiveAction.NONE,
    }
    assert "mode" in (EXAMPLES / "everything.yaml").read_text()  # SHADOW is shown, even if not on
