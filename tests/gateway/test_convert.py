"""The gateway's edge conversions: split mode's proto -> domain is the inverse of the services' own domain -> proto,
and the gateway's domain -> proto says what the services would have said, for every policy outcome."""

from __future__ import annotations

import pytest

from safegen.core.types import BoundingBox, Category, FilterVerdict, Label, Level, WordListKind, WordMatch
from safegen.gateway import convert
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.image.servicer import verdict_to_pb
from safegen.policy.actions import FilterAction
from safegen.policy.pii import RuleKind, SensitiveAction, SensitiveMatch
from safegen.policy.topics import TopicMatch
from safegen.text.moderator import TextVerdict
from safegen.text.servicer import to_response
from safegen.text.threats import ThreatMatch
from safegen.v1 import common_pb2 as c, image_moderation_pb2 as im

FILTERS = [
    FilterVerdict(Category.SEXUAL, 0.91, Level.HIGH, Level.HIGH, detected=True),  # acted
    FilterVerdict(Category.VIOLENCE, 0.6, Level.MEDIUM, Level.LOW, detected=True, enforced=False),  # reported
    FilterVerdict(Category.HATE, 0.01, Level.NONE, Level.MEDIUM, detected=False),
]
WORDS = [
    WordMatch("darn", 2, 6, WordListKind.MANAGED_PROFANITY, "darn"),
    WordMatch("dragon", 8, 14, WordListKind.CUSTOM, "dragon", enforced=False),
]
TOPICS = [
    TopicMatch("politics", 0.8, True, FilterAction.BLOCK),
    TopicMatch("cars", 0.7, True, FilterAction.NONE),
    TopicMatch("food", 0.1, False, FilterAction.BLOCK),
]
SENSITIVE = [
    SensitiveMatch(RuleKind.PII, "EMAIL", "a@b.c", 0, 5, SensitiveAction.ANONYMIZE),
    SensitiveMatch(RuleKind.PII, "CREDIT_DEBIT_CARD_NUMBER", "4111", 6, 10, SensitiveAction.BLOCK),
    SensitiveMatch(RuleKind.REGEX, "ORDER_ID", "ORD-123456", 11, 21, SensitiveAction.NONE),
]

THREATS = [ThreatMatch("I will k1ll you", 0, 15, "intent"), ThreatMatch("death to you", 17, 29, "death_to")]


def verdicts() -> list[TextVerdict]:
    full = dict(
        filters=FILTERS,
        words=WORDS,
        guardrail_id="brand",
        backend="local",
        guardrail_version="2",
        topics=TOPICS,
        sensitive=SENSITIVE,
    )
    reported = [ThreatMatch(t.match, t.start, t.end, t.kind, enforced=False) for t in THREATS]
    return [
        TextVerdict(intervened=False, filters=[FILTERS[2]], words=[], guardrail_id="default", backend="local"),
        TextVerdict(intervened=True, blocked=True, detected=True, threats=THREATS, **full),
        TextVerdict(intervened=True, detected=True, anonymized_text="{EMAIL} x", threats=reported, **full),
        TextVerdict(intervened=False, detected=True, shadow=True, threats=reported, **full),
    ]  # SHADOW: nothing acts


@pytest.mark.parametrize("v", verdicts())
def test_text_verdict_round_trips_through_the_text_services_message(v):
    sent = to_response(v)  # what a text moderation service in another process answers
    back = convert.text_verdict(sent, shadow=v.shadow)
    assert to_response(back) == sent
    assert back.threats == v.threats  # spans, kind and enforcement survive split mode


@pytest.mark.parametrize("v", verdicts())
def test_prompt_assessment_says_what_the_text_service_says(v):
    a, r = convert.prompt_assessment(v), to_response(v)
    assert (a.action, a.detected_action, a.anonymized_prompt) == (r.action, r.detected_action, r.anonymized_text)
    assert list(a.filters) == list(r.filters) and list(a.words) == list(r.words)
    assert list(a.topics) == list(r.topics) and list(a.sensitive_information) == list(r.sensitive_information)
    assert list(a.threats) == list(r.threats) == convert.threats_pb(v.threats)
    assert all(t.category == c.CATEGORY_VIOLENCE for t in r.threats)
    assert [t.action for t in r.threats] == [
        c.POLICY_ACTION_BLOCKED if t.enforced else c.POLICY_ACTION_NONE for t in v.threats
    ]


IMAGES = [
    ImageVerdict(
        0,
        True,
        FILTERS,
        [
            Label("Explicit Nudity", "", 93.5, 1, Category.SEXUAL, BoundingBox(0.1, 0.2, 0.3, 0.4)),
            Label("Text", "", 80.0, 1, Category.HATE, None, text="some words"),
        ],
        "PNG",
        64,
        48,
        backend="local",
        guardrail_id="brand",
        guardrail_version="2",
        detected=True,
    ),
    ImageVerdict(
        1, False, [FILTERS[2]], [], "JPEG", 8, 8, backend="local", guardrail_id="brand", guardrail_version="2"
    ),
]


def test_image_verdicts_round_trip_through_the_image_services_message():
    sent = im.ModerateImagesResponse(
        results=[verdict_to_pb(v) for v in IMAGES], guardrail_id="brand", guardrail_version="2", backend="local"
    )
    back = convert.image_verdicts(sent)
    assert [verdict_to_pb(v) for v in back] == list(sent.results)
    for v in IMAGES:
        r = verdict_to_pb(v)
        assert list(convert.filters_pb(v.filters)) == list(r.filters)
        assert list(convert.labels_pb(v.labels)) == list(r.labels)


def test_generation_request_and_result_for_a_generation_service_elsewhere():
    req = GenerationRequest(
        prompt="p",
        negative_prompt="n",
        width=64,
        height=72,
        num_images=2,
        steps=3,
        guidance_scale=5.5,
        seed=0,
        safety_negative_prompts=("nsfw",),
    )
    m = convert.generation_request_pb(req, "brand", "2")
    assert m.HasField("seed") and m.seed == 0 and (m.guardrail_id, m.guardrail_version) == ("brand", "2")
    assert (m.prompt, m.negative_prompt, m.width, m.height, m.num_images, m.steps) == ("p", "n", 64, 72, 2, 3)
    assert not convert.generation_request_pb(GenerationRequest(prompt="p"), "", "").HasField("seed")
    from safegen.generation.servicer import to_proto

    result = GenerationResult([b"png"], [7], "m", "b", "neg", False, ["note"], True, "why")
    assert convert.generation_result(to_proto(result)) == result


def test_tightening_round_trips():
    from safegen.core.policy_pb import tightening

    t = {Category.SEXUAL: (Level.HIGH, None), Category.HATE: (None, Level.MEDIUM)}
    assert tightening(convert.tightening_pb(t)) == t
    assert convert.tightening_pb(t)[0].output_strength == c.FILTER_STRENGTH_UNSPECIFIED
