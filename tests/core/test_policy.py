"""Guardrail policies: Bedrock strength semantics, YAML validation, negative prompt merging, lookup."""

from __future__ import annotations

import pytest

from safegen.core.types import Category, CategoryScore, Level, Modality, Source, intervenes
from safegen.errors import NotFound
from safegen.policy import GuardrailConfigError, GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail

L = Level


@pytest.mark.parametrize(
    "strength,confidence,expected",
    [
        (L.HIGH, L.LOW, True),
        (L.HIGH, L.MEDIUM, True),
        (L.HIGH, L.HIGH, True),
        (L.HIGH, L.NONE, False),
        (L.MEDIUM, L.LOW, False),
        (L.MEDIUM, L.MEDIUM, True),
        (L.MEDIUM, L.HIGH, True),
        (L.LOW, L.LOW, False),
        (L.LOW, L.MEDIUM, False),
        (L.LOW, L.HIGH, True),
        (L.NONE, L.HIGH, False),
        (L.NONE, L.LOW, False),
    ],
)
def test_bedrock_strength_semantics(strength, confidence, expected):
    assert intervenes(strength, confidence) is expected


def test_default_guardrail_is_consumer_safe():
    g = GuardrailRegistry.load().get("")
    assert g.id == "default"
    assert g.unsafe_prompt_action.value == "BLOCK" and g.unsafe_image_action.value == "BLUR"
    assert g.managed_profanity and g.negative_prompts and g.max_regenerations >= 1
    for cat in Category:
        assert g.strength(cat, Source.INPUT, Modality.TEXT) == Level.HIGH
    assert g.strength(Category.PROMPT_ATTACK, Source.OUTPUT, Modality.IMAGE) == Level.NONE


def test_evaluate_uses_source_and_modality():
    doc = {
        "id": "t",
        "contentPolicyConfig": {
            "filtersConfig": [
                {
                    "type": "SEXUAL",
                    "inputStrength": "LOW",
                    "outputStrength": "HIGH",
                    "inputModalities": ["TEXT"],
                    "outputModalities": ["IMAGE"],
                }
            ]
        },
    }
    g = parse_guardrail(doc, "t.yaml", "t")
    scores = {Category.SEXUAL: CategoryScore(Category.SEXUAL, 0.4, Level.MEDIUM)}
    by_src = {
        (Source.INPUT, Modality.TEXT): False,  # LOW strength needs HIGH confidence
        (Source.OUTPUT, Modality.IMAGE): True,
        (Source.OUTPUT, Modality.TEXT): False,  # modality not covered
    }
    for (src, mod), want in by_src.items():
        [sexual] = g.evaluate(scores, src, mod, [Category.SEXUAL])
        assert sexual.detected is want, (src, mod)
    # Categories without a filter never intervene.
    assert not any(
        v.detected
        for v in g.evaluate({Category.HATE: CategoryScore(Category.HATE, 1.0, Level.HIGH)}, Source.INPUT, Modality.TEXT)
    )


@pytest.mark.parametrize(
    "doc,fragment",
    [
        ({"contentPolicyConfig": {"filtersConfig": [{"type": "GORE"}]}}, "'GORE' is not one of"),
        ({"contentPolicyConfig": {"filtersConfig": [{"type": "SEXUAL", "inputStrength": "EXTREME"}]}}, "inputStrength"),
        (
            {"contentPolicyConfig": {"filtersConfig": [{"type": "PROMPT_ATTACK", "outputStrength": "HIGH"}]}},
            "input only",
        ),
        ({"contentPolicyConfig": {"filtersConfig": [{"type": "SEXUAL", "inputStrenght": "HIGH"}]}}, "unknown key"),
        ({"wordPolicyConfig": {"wordsConfig": [{"text": "x" * 101}]}}, "1-100 characters"),
        ({"safegen": {"unsafeImageAction": "DELETE"}}, "unsafeImageAction"),
        ({"safegen": {"maxRegenerations": 9}}, "maxRegenerations"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_guardrail_files_are_rejected_with_the_key(doc, fragment):
    with pytest.raises(GuardrailConfigError, match=fragment):
        parse_guardrail(doc, "bad.yaml", "bad")


def test_custom_word_limit():
    words = [{"text": f"w{i}"} for i in range(10_001)]
    with pytest.raises(GuardrailConfigError, match="at most 10000"):
        parse_guardrail({"wordPolicyConfig": {"wordsConfig": words}}, "many.yaml", "many")


def test_unknown_guardrail_is_not_found_and_lists_known():
    with pytest.raises(NotFound, match="'nope' not found.*default"):
        GuardrailRegistry.load().get("nope")


def test_directory_guardrails_and_env_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCK_MSG", "Nope.")
    (tmp_path / "kids.yaml").write_text(
        "id: kids\nblockedInputMessaging: ${BLOCK_MSG}\nwordPolicyConfig:\n  wordsConfig: [{text: dragon}]\n"
        "safegen: {unsafeImageAction: BLOCK, negativePrompts: [scary]}\n"
    )
    reg = GuardrailRegistry.load(tmp_path)
    g = reg.get("kids")
    assert g.blocked_input_message == "Nope." and g.custom_words == ("dragon",)
    assert [x.id for x in reg.all()][0] == "default"
    with pytest.raises(GuardrailConfigError, match="does not exist"):
        GuardrailRegistry.load(tmp_path / "missing")


def test_merge_negative_prompt_keeps_caller_first_without_duplicates():
    g = GuardrailRegistry.load().get()
    merged = g.merge_negative_prompt("blurry, Gore")
    assert merged.startswith("blurry, Gore, ")
    assert merged.lower().count("gore") == 1
    assert all(n in merged.lower() for n in g.negative_prompts)
    assert g.merge_negative_prompt("") == g.negative_prompt
