"""Threat rules: threats found with exact spans (obfuscated too), near misses passed, VIOLENCE HIGH for prompts and image text."""

from __future__ import annotations

import pytest

from safegen.core.types import BoundingBox, Category, Level, Source, TextLine
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.policy import GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from safegen.text.backends.local import WordsOnlyBackend
from safegen.text.moderator import TextModerator
from safegen.text.threats import find_threats


@pytest.mark.parametrize(
    "text, match, kind",
    [
        ("I will kill you", "I will kill you", "intent"),
        ("I WILL KILL YOU AND YOUR FAMILY", "I WILL KILL YOU", "intent"),
        ("we are going to shoot up the school", "we are going to shoot up the school", "intent"),
        ("We're gonna bomb the mosque tomorrow", "We're gonna bomb the mosque", "intent"),
        ("i'm going to stab your whole family", "i'm going to stab your whole family", "intent"),
        ("imma murder u", "imma murder u", "intent"),
        ("I swear I'll f*cking strangle him", "I swear I'll f*cking strangle him", "intent"),
        ("im going to kill you", "im going to kill you", "intent"),  # I'm without the apostrophe
        ("gonna kill you", "gonna kill you", "intent"),  # the speaker left out
        ("I will find you and kill you", "I will find you and kill you", "intent"),  # coordinated with the intent
        ("I hope you die", "I hope you die", "intent"),
        ("we want them all dead", "we want them all dead", "intent"),
        ("I want you to die", "I want you to die", "intent"),
        ("let's lynch them all", "let's lynch them all", "intent"),
        ("we want to behead the infidels", "we want to behead the infidels", "intent"),
        ("I am going to hurt you", "I am going to hurt you", "intent"),
        ("i will blow up the embassy", "i will blow up the embassy", "intent"),
        ("I'll beat you up", "I'll beat you up", "intent"),
        ("death to all immigrants", "death to all immigrants", "death_to"),
        ("DEATH TO THE JEWS", "DEATH TO THE JEWS", "death_to"),
        ("death to you", "death to you", "death_to"),
        ("SHOOT THE COPS", "SHOOT THE COPS", "imperative"),
        ("behead the hostages", "behead the hostages", "imperative"),
        ("Kill them all.", "Kill them all", "imperative"),
        ('a protest sign that reads "gas the jews"', "gas the jews", "imperative"),
        ("a poster saying kill all immigrants", "kill all immigrants", "imperative"),
        ("a banner that says shoot all the girls", "shoot all the girls", "imperative"),
        ("you will die", "you will die", "second_person"),
        ("You're going to be killed", "You're going to be killed", "second_person"),
        ("your family is going to get shot", "your family is going to get shot", "second_person"),
        # obfuscated the way word lists see through it
        ("i wi11 k1ll y0u", "i wi11 k1ll y0u", "intent"),
        ("I will k i l l you", "I will k i l l you", "intent"),
        ("I WILL K.I.L.L YOU", "I WILL K.I.L.L YOU", "intent"),
        ("ｉ ｗｉｌｌ ｋｉｌｌ ｙｏｕ", "ｉ ｗｉｌｌ ｋｉｌｌ ｙｏｕ", "intent"),
        ("I will kі\u200bll you", "I will kі\u200bll you", "intent"),  # Cyrillic i, zero-width space
        ("D3ATH T0 ALL MUSLIMS", "D3ATH T0 ALL MUSLIMS", "death_to"),
    ],
)
def test_threats_are_found_with_exact_spans(text, match, kind):
    (m,) = find_threats(text)
    assert (m.match, m.kind) == (match, kind)
    assert text[m.start : m.end] == match


def test_spans_point_into_the_original_text_after_other_content():
    text = "nice day.\nthen: I will shoot you, and death to all of them"
    found = find_threats(text)
    assert [(text[m.start : m.end], m.kind) for m in found] == [
        ("I will shoot you", "intent"),
        ("death to all of", "death_to"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "kill the process",
        "how do I kill the process on port 8080",
        "this song kills",
        "killer whale",
        "I could kill for a pizza",
        "shoot a photo",
        "a photographer will shoot you a portrait",
        "we will shoot the wedding",
        "i will shoot your family portrait",
        "I will beat you at chess",
        "I killed it on stage",
        "I will kill it tonight",
        "kill bill",
        "kill la kill style anime",
        "guns kill people",
        "zombies kill people in a ruined city",
        "kill the lights",
        "I'm going to kill myself laughing",
        "shoot the breeze",
        "we will nail this",
        "death to smoochy",
        "a knight about to kill the dragon",
        "execute the plan",
        "I will execute the script",
        "you will love it",
        "you will never walk alone",
        "a nuclear bomb exploding over a city",
        "a man hits a bomb with a crowbar",
        "never gonna tell a lie and hurt you",
        "and hurt you, digital art",
        "bomb pop ice cream",
        "shooting star cafe",
        "Killington ski resort",
        "a portrait of a murder lord",
        "the cat will attack the toy",
        "I will burn the toast",
        "we are going to blow up the balloons",
        "I'll cut the cake",
        "photo shoot of a family",
        "I will kill time here",
        "I will find you and buy you a drink",
        "I hope you like it",
        "I want to die",
        "I wish I were dead",
        "I will find you. And kill the lights",
        "a photographer will shoot the girls in the studio",
        "then shoot the kids playing in the park",
        "I'm going to kill the pig for the feast",
        "I want you to kill the process",
        "we're going to shoot the breeze",
    ],
)
def test_near_misses_pass(text):
    assert find_threats(text) == []


def _registry():
    no_violence = parse_guardrail(
        {
            "id": "no-violence",
            "name": "No violence filter",
            "contentPolicyConfig": {
                "filtersConfig": [{"type": "SEXUAL", "inputStrength": "HIGH", "outputStrength": "HIGH"}]
            },
        },
        "test",
        "no-violence",
    )
    detect_only = parse_guardrail(
        {
            "id": "violence-detect-only",
            "name": "VIOLENCE reported, not blocked",
            "contentPolicyConfig": {
                "filtersConfig": [
                    {
                        "type": "VIOLENCE",
                        "inputStrength": "LOW",
                        "outputStrength": "LOW",
                        "inputAction": "NONE",
                        "outputAction": "NONE",
                    }
                ]
            },
        },
        "test",
        "violence-detect-only",
    )
    shadow = parse_guardrail(
        {
            "id": "violence-shadow",
            "name": "SHADOW mode",
            "contentPolicyConfig": {
                "filtersConfig": [{"type": "VIOLENCE", "inputStrength": "HIGH", "outputStrength": "HIGH"}]
            },
            "safegen": {"mode": "SHADOW"},
        },
        "test",
        "violence-shadow",
    )
    return GuardrailRegistry(GuardrailRegistry.load().all() + [no_violence, detect_only, shadow])


def test_a_prompt_threat_makes_violence_high_and_intervenes():
    mod = TextModerator(_registry(), WordsOnlyBackend())
    v = mod.moderate("I WILL KILL YOU AND YOUR FAMILY", Source.INPUT)
    violence = next(f for f in v.filters if f.category == Category.VIOLENCE)
    assert v.intervened and violence.detected and violence.confidence == Level.HIGH
    assert [(t.match, t.start, t.end) for t in v.threats] == [("I WILL KILL YOU", 0, 15)]
    assert not mod.moderate("kill the process", Source.INPUT).intervened


def test_the_guardrails_violence_strength_still_decides():
    v = TextModerator(_registry(), WordsOnlyBackend()).moderate("I will kill you", Source.INPUT, "no-violence")
    # No VIOLENCE filter: the threat changes nothing, and the verdict reports none (nothing was detected).
    assert not v.intervened and not v.detected and v.threats == []


@pytest.mark.parametrize(
    "guardrail, intervened, enforced",
    [
        ("", True, True),  # the default guardrail blocks VIOLENCE
        ("violence-detect-only", False, False),  # reported with the filter's action NONE
        ("violence-shadow", False, False),  # SHADOW: reported, nothing acts
    ],
)
def test_reported_threats_act_as_the_violence_filter_acts(guardrail, intervened, enforced):
    v = TextModerator(_registry(), WordsOnlyBackend()).moderate("I will kill you", Source.INPUT, guardrail)
    violence = next(f for f in v.filters if f.category == Category.VIOLENCE)
    assert v.intervened is intervened and v.detected and violence.detected and violence.enforced is enforced
    assert [(t.match, t.start, t.end, t.kind, t.enforced) for t in v.threats] == [
        ("I will kill you", 0, 15, "intent", enforced)
    ]


def test_a_threat_read_in_an_image_intervenes_as_violence_with_the_lines_box():
    import io

    from PIL import Image

    from safegen.core.types import ImageAssessment

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (240, 240, 240)).save(buf, "PNG")

    class Reads:
        name, needs_decoded, detectors = "local", True, ("ocr",)

        def assess(self, images, source=Source.OUTPUT):
            lines = [
                TextLine("I WILL KILL YOU", 0.95, BoundingBox(0.1, 0.2, 0.8, 0.1)),
                TextLine("AND YOUR FAMILY", 0.95, BoundingBox(0.1, 0.4, 0.8, 0.1)),
            ]
            return [ImageAssessment(format=v.format, width=v.width, height=v.height, text_lines=lines) for v in images]

        def coverage(self):
            from safegen.image.backends.coverage import local_coverage

            return local_coverage(("ocr",))

    registry = _registry()
    mod = ImageModerator(Reads(), registry, ImageLimits(rate_per_s=0), text=TextModerator(registry, WordsOnlyBackend()))
    (v,) = mod.moderate([buf.getvalue()], Source.OUTPUT)
    violence = next(f for f in v.filters if f.category == Category.VIOLENCE)
    assert v.intervened and violence.detected and violence.confidence == Level.HIGH
    assert [(lb.name, lb.category, lb.box.top) for lb in v.labels] == [("Text", Category.VIOLENCE, 0.2)]
