"""Guardrail policy results and request options between the domain and safegen.v1 messages, shared by the servicers."""

from __future__ import annotations

from typing import Iterable

from safegen.core.types import Category, FilterVerdict, Level, WordMatch
from safegen.errors import InvalidArgument
from safegen.policy.pii import SensitiveAction, SensitiveMatch
from safegen.policy.topics import TopicMatch
from safegen.v1 import common_pb2

_STRENGTH = {
    common_pb2.FILTER_STRENGTH_NONE: Level.NONE,
    common_pb2.FILTER_STRENGTH_LOW: Level.LOW,
    common_pb2.FILTER_STRENGTH_MEDIUM: Level.MEDIUM,
    common_pb2.FILTER_STRENGTH_HIGH: Level.HIGH,
}
_BLOCKED, _NONE, _ANON = (
    common_pb2.POLICY_ACTION_BLOCKED,
    common_pb2.POLICY_ACTION_NONE,
    common_pb2.POLICY_ACTION_ANONYMIZED,
)


def tightening(items: Iterable[common_pb2.FilterTightening]) -> dict[Category, tuple[Level | None, Level | None]]:
    """tighten_filters -> {category: (input, output)} (None keeps the guardrail's); malformed is INVALID_ARGUMENT.
    Whether each strength is stricter is checked against the resolved guardrail (Guardrail.tightened)."""
    out: dict[Category, tuple[Level | None, Level | None]] = {}
    for i, t in enumerate(items):
        if t.category == common_pb2.CATEGORY_UNSPECIFIED:
            raise InvalidArgument(f"tighten_filters[{i}].category must be set")
        try:
            cat = Category(common_pb2.Category.Name(t.category).removeprefix("CATEGORY_"))
        except ValueError:
            raise InvalidArgument(f"tighten_filters[{i}].category {t.category} is not a known category") from None
        if cat in out:
            raise InvalidArgument(f"tighten_filters[{i}]: {cat.value} is listed twice")
        strengths = []
        for name in ("input_strength", "output_strength"):
            v = getattr(t, name)
            if v != common_pb2.FILTER_STRENGTH_UNSPECIFIED and v not in _STRENGTH:
                raise InvalidArgument(f"tighten_filters[{i}].{name} {v} is not a known strength")
            strengths.append(_STRENGTH.get(v))
        if strengths == [None, None]:
            raise InvalidArgument(f"tighten_filters[{i}] ({cat.value}) sets neither input_strength nor output_strength")
        out[cat] = (strengths[0], strengths[1])
    return out


def filter_action(f: FilterVerdict) -> common_pb2.PolicyAction:
    return _BLOCKED if f.detected and f.enforced else _NONE


def word_action(m: WordMatch) -> common_pb2.PolicyAction:
    return _BLOCKED if m.enforced else _NONE


def topic_results(matches: list[TopicMatch], shadow: bool) -> list[common_pb2.TopicResult]:
    return [
        common_pb2.TopicResult(
            name=t.name,
            type="DENY",
            detected=t.detected,
            score=t.score,
            action=_BLOCKED if t.detected and t.action.value == "BLOCK" and not shadow else _NONE,
        )
        for t in matches
    ]


def sensitive_results(matches: list[SensitiveMatch], shadow: bool) -> list[common_pb2.SensitiveInformationResult]:
    out = []
    for s in matches:
        if shadow or s.action == SensitiveAction.NONE:
            action = _NONE
        else:
            action = _BLOCKED if s.action == SensitiveAction.BLOCK else _ANON
        out.append(
            common_pb2.SensitiveInformationResult(
                type=s.name,
                regex=s.kind.value == "REGEX",
                match=s.match,
                start=s.start,
                end=s.end,
                detected=True,
                action=action,
                configured_action=s.action.value,
            )
        )
    return out
