"""The gateway's edge: safegen.v1 messages <-> the domain values the flow and the backends' adapters work on.

Two directions. Domain -> proto builds what a caller gets (GenerateResponse, stream events, ApplyGuardrail
assessments) from the moderation services' verdicts; the data plane calls it once per response, for
gRPC and HTTP callers alike. Proto -> domain reads what the caller sent (GenerateRequest, tighten_filters),
and what backends in other processes answered (split mode, safegen.gateway.clients), so the flow never sees
a message. The two directions are inverse on everything a response shows (tests/gateway/test_convert.py).
"""

from __future__ import annotations

from typing import Iterable

from safegen.core import policy_pb
from safegen.core.types import BoundingBox, Category, FilterVerdict, Label, Level, WordListKind, WordMatch
from safegen.gateway.values import Progress, SafeRequest, SafeResult, Stage, StageEvent, Tightening
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.policy.actions import FilterAction
from safegen.policy.pii import RuleKind, SensitiveAction, SensitiveMatch
from safegen.policy.topics import TopicMatch
from safegen.text.moderator import TextVerdict
from safegen.text.threats import ThreatMatch
from safegen.v1 import common_pb2, image_generation_pb2, image_moderation_pb2, text_moderation_pb2
from safegen.v1 import safe_generation_pb2 as pb

_INTERVENED, _NONE = common_pb2.ACTION_GUARDRAIL_INTERVENED, common_pb2.ACTION_NONE
_BLOCKED = common_pb2.POLICY_ACTION_BLOCKED
# Enum values by name, typed (Enum.Value(name) is untyped): every domain member has its proto twin.
_CATEGORY_PB: dict[Category, common_pb2.Category] = {
    Category.SEXUAL: common_pb2.CATEGORY_SEXUAL,
    Category.VIOLENCE: common_pb2.CATEGORY_VIOLENCE,
    Category.HATE: common_pb2.CATEGORY_HATE,
    Category.INSULTS: common_pb2.CATEGORY_INSULTS,
    Category.MISCONDUCT: common_pb2.CATEGORY_MISCONDUCT,
    Category.PROMPT_ATTACK: common_pb2.CATEGORY_PROMPT_ATTACK,
}
_CONFIDENCE_PB: dict[Level, common_pb2.Confidence] = {
    Level.NONE: common_pb2.CONFIDENCE_NONE,
    Level.LOW: common_pb2.CONFIDENCE_LOW,
    Level.MEDIUM: common_pb2.CONFIDENCE_MEDIUM,
    Level.HIGH: common_pb2.CONFIDENCE_HIGH,
}
_STRENGTH_PB: dict[Level, common_pb2.FilterStrength] = {
    Level.NONE: common_pb2.FILTER_STRENGTH_NONE,
    Level.LOW: common_pb2.FILTER_STRENGTH_LOW,
    Level.MEDIUM: common_pb2.FILTER_STRENGTH_MEDIUM,
    Level.HIGH: common_pb2.FILTER_STRENGTH_HIGH,
}
_WORD_LIST_PB: dict[WordListKind, common_pb2.WordList] = {
    WordListKind.MANAGED_PROFANITY: common_pb2.WORD_LIST_MANAGED_PROFANITY,
    WordListKind.CUSTOM: common_pb2.WORD_LIST_CUSTOM,
}
_STAGE = {
    Stage.PROMPT_MODERATION: pb.STAGE_PROMPT_MODERATION,
    Stage.GENERATION: pb.STAGE_GENERATION,
    Stage.IMAGE_MODERATION: pb.STAGE_IMAGE_MODERATION,
}


def action(intervened: bool) -> common_pb2.Action:
    return _INTERVENED if intervened else _NONE


# ----------------------------------------------------------------------------------- caller -> domain
def request(req: pb.GenerateRequest | pb.StreamGenerateRequest) -> SafeRequest:
    """GenerateRequest or its twin StreamGenerateRequest (same fields) as the flow's request."""
    return SafeRequest(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        width=req.width,
        height=req.height,
        num_images=req.num_images,
        steps=req.steps,
        guidance_scale=req.guidance_scale,
        seed=req.seed if req.HasField("seed") else None,
        guardrail_id=req.guardrail_id,
        guardrail_version=req.guardrail_version,
    )


def tightening_pb(tighten: Tightening) -> list[common_pb2.FilterTightening]:
    """The inverse of policy_pb.tightening: what a backend in another process is sent to tighten the same way."""

    def strength(level: Level | None) -> common_pb2.FilterStrength:
        return common_pb2.FILTER_STRENGTH_UNSPECIFIED if level is None else _STRENGTH_PB[level]

    return [
        common_pb2.FilterTightening(category=category_pb(cat), input_strength=strength(i), output_strength=strength(o))
        for cat, (i, o) in tighten.items()
    ]


# ----------------------------------------------------------------------------------- domain -> caller
def category_pb(c: Category) -> common_pb2.Category:
    return _CATEGORY_PB[c]


def filters_pb(filters: Iterable[FilterVerdict]) -> list[common_pb2.FilterResult]:
    return [
        common_pb2.FilterResult(
            category=category_pb(f.category),
            score=f.score,
            confidence=_CONFIDENCE_PB[f.confidence],
            filter_strength=_STRENGTH_PB[f.strength],
            detected=f.detected,
            action=policy_pb.filter_action(f),
        )
        for f in filters
    ]


def words_pb(words: Iterable[WordMatch]) -> list[common_pb2.WordMatch]:
    return [
        common_pb2.WordMatch(
            match=m.match,
            start=m.start,
            end=m.end,
            word_list=_WORD_LIST_PB[m.word_list],
            word=m.word,
            action=policy_pb.word_action(m),
        )
        for m in words
    ]


def threats_pb(threats: Iterable[ThreatMatch]) -> list[common_pb2.ThreatMatch]:
    """Threat matches; a threat always counts toward VIOLENCE, and acts as the VIOLENCE filter acts."""
    return [
        common_pb2.ThreatMatch(
            match=t.match,
            start=t.start,
            end=t.end,
            category=common_pb2.CATEGORY_VIOLENCE,
            kind=t.kind,
            action=_BLOCKED if t.enforced else common_pb2.POLICY_ACTION_NONE,
        )
        for t in threats
    ]


def labels_pb(labels: Iterable[Label]) -> list[common_pb2.ModerationLabel]:
    out = []
    for lb in labels:
        m = common_pb2.ModerationLabel(
            name=lb.name,
            parent_name=lb.parent_name,
            confidence=lb.confidence,
            taxonomy_level=lb.taxonomy_level,
            category=category_pb(lb.category),
            text=lb.text,
        )
        if lb.box is not None:
            m.bounding_box.CopyFrom(
                common_pb2.BoundingBox(left=lb.box.left, top=lb.box.top, width=lb.box.width, height=lb.box.height)
            )
        out.append(m)
    return out


def prompt_assessment(v: TextVerdict) -> pb.PromptAssessment:
    return pb.PromptAssessment(
        action=action(v.intervened),
        filters=filters_pb(v.filters),
        words=words_pb(v.words),
        topics=policy_pb.topic_results(v.topics, v.shadow),
        sensitive_information=policy_pb.sensitive_results(v.sensitive, v.shadow),
        anonymized_prompt=v.anonymized_text,
        detected_action=action(v.detected),
        threats=threats_pb(v.threats),
    )


def response(r: SafeResult, request_id: str = "") -> pb.GenerateResponse:
    t = r.timings
    return pb.GenerateResponse(
        action=action(r.intervened),
        prompt_assessment=prompt_assessment(r.prompt),
        images=[
            pb.GeneratedImage(
                data=i.data,
                mime_type="image/png",
                blurred=i.blurred,
                withheld=i.withheld,
                action=action(i.verdict.intervened),
                filters=filters_pb(i.verdict.filters),
                labels=labels_pb(i.verdict.labels),
                seed=i.seed,
                attempt=i.attempt,
                detected_action=action(i.verdict.detected),
            )
            for i in r.images
        ],
        warnings=r.warnings,
        attempts=r.attempts,
        timings=pb.StageTimings(
            prompt_moderation_seconds=t.prompt_moderation,
            generation_seconds=t.generation,
            image_moderation_seconds=t.image_moderation,
            total_seconds=t.total,
            moderation_overhead_ratio=t.moderation_overhead_ratio,
        ),
        guardrail_id=r.guardrail_id,
        model_id=r.model_id,
        blocked_message=r.blocked_message,
        negative_prompt=r.negative_prompt,
        guardrail_version=r.guardrail_version,
        detected_action=action(r.detected),
        request_id=request_id,
    )


def event(e: StageEvent | Progress) -> pb.StreamGenerateResponse:
    if isinstance(e, Progress):
        return pb.StreamGenerateResponse(
            progress=image_generation_pb2.GenerationProgress(step=e.step, total_steps=e.total_steps)
        )
    return pb.StreamGenerateResponse(
        stage=pb.StageEvent(
            stage=_STAGE[e.stage], finished=e.finished, attempt=e.attempt, seconds=e.seconds, detail=e.detail
        )
    )


# ------------------------------------------------------------ another process's answer -> domain (split mode)
_LEVEL: dict[common_pb2.Confidence, Level] = {
    common_pb2.CONFIDENCE_NONE: Level.NONE,
    common_pb2.CONFIDENCE_LOW: Level.LOW,
    common_pb2.CONFIDENCE_MEDIUM: Level.MEDIUM,
    common_pb2.CONFIDENCE_HIGH: Level.HIGH,
}
_STRENGTH: dict[common_pb2.FilterStrength, Level] = {
    common_pb2.FILTER_STRENGTH_NONE: Level.NONE,
    common_pb2.FILTER_STRENGTH_LOW: Level.LOW,
    common_pb2.FILTER_STRENGTH_MEDIUM: Level.MEDIUM,
    common_pb2.FILTER_STRENGTH_HIGH: Level.HIGH,
}


_CATEGORY = {v: k for k, v in _CATEGORY_PB.items()}
_WORD_LIST = {v: k for k, v in _WORD_LIST_PB.items()}


def _category(value: common_pb2.Category) -> Category:
    return _CATEGORY[value]


def filters_of(filters: Iterable[common_pb2.FilterResult]) -> list[FilterVerdict]:
    # A detected filter that did not act was reported only (detect-only or SHADOW): not enforced.
    return [
        FilterVerdict(
            category=_category(f.category),
            score=f.score,
            confidence=_LEVEL.get(f.confidence, Level.NONE),
            strength=_STRENGTH.get(f.filter_strength, Level.NONE),
            detected=f.detected,
            enforced=not (f.detected and f.action == common_pb2.POLICY_ACTION_NONE),
        )
        for f in filters
    ]


def words_of(words: Iterable[common_pb2.WordMatch]) -> list[WordMatch]:
    return [
        WordMatch(
            match=w.match,
            start=w.start,
            end=w.end,
            word_list=_WORD_LIST.get(w.word_list, WordListKind.CUSTOM),
            word=w.word,
            enforced=w.action != common_pb2.POLICY_ACTION_NONE,
        )
        for w in words
    ]


def threats_of(threats: Iterable[common_pb2.ThreatMatch]) -> list[ThreatMatch]:
    return [
        ThreatMatch(
            match=t.match, start=t.start, end=t.end, kind=t.kind, enforced=t.action != common_pb2.POLICY_ACTION_NONE
        )
        for t in threats
    ]


def _sensitive_action(s: common_pb2.SensitiveInformationResult) -> SensitiveAction:
    if s.configured_action in SensitiveAction.__members__:
        return SensitiveAction(s.configured_action)
    return {
        common_pb2.POLICY_ACTION_BLOCKED: SensitiveAction.BLOCK,
        common_pb2.POLICY_ACTION_ANONYMIZED: SensitiveAction.ANONYMIZE,
    }.get(s.action, SensitiveAction.NONE)


def text_verdict(r: text_moderation_pb2.ModerateTextResponse, shadow: bool) -> TextVerdict:
    """ModerateTextResponse as the text moderator's verdict. `shadow`: the pinned guardrail's mode, which
    the response implies but does not carry."""
    return TextVerdict(
        intervened=r.action == _INTERVENED,
        filters=filters_of(r.filters),
        words=words_of(r.words),
        guardrail_id=r.guardrail_id,
        backend=r.backend,
        guardrail_version=r.guardrail_version,
        blocked=r.blocked,
        detected=r.detected_action == _INTERVENED,
        topics=[
            TopicMatch(
                name=t.name,
                score=t.score,
                detected=t.detected,
                action=FilterAction.BLOCK if t.action == common_pb2.POLICY_ACTION_BLOCKED else FilterAction.NONE,
            )
            for t in r.topics
        ],
        sensitive=[
            SensitiveMatch(
                kind=RuleKind.REGEX if s.regex else RuleKind.PII,
                name=s.type,
                match=s.match,
                start=s.start,
                end=s.end,
                action=_sensitive_action(s),
            )
            for s in r.sensitive_information
        ],
        anonymized_text=r.anonymized_text,
        shadow=shadow,
        threats=threats_of(r.threats),
    )


def image_verdicts(r: image_moderation_pb2.ModerateImagesResponse) -> list[ImageVerdict]:
    """ModerateImagesResponse as the image moderator's verdicts, in order."""
    out = []
    for x in r.results:
        labels = [
            Label(
                name=lb.name,
                parent_name=lb.parent_name,
                confidence=lb.confidence,
                taxonomy_level=lb.taxonomy_level,
                category=_category(lb.category),
                text=lb.text,
                box=BoundingBox(
                    lb.bounding_box.left, lb.bounding_box.top, lb.bounding_box.width, lb.bounding_box.height
                )
                if lb.HasField("bounding_box")
                else None,
            )
            for lb in x.labels
        ]
        out.append(
            ImageVerdict(
                index=x.index,
                intervened=x.action == _INTERVENED,
                filters=filters_of(x.filters),
                labels=labels,
                format=x.format,
                width=x.width,
                height=x.height,
                backend=r.backend,
                guardrail_id=r.guardrail_id,
                guardrail_version=r.guardrail_version,
                detected=x.detected_action == _INTERVENED,
            )
        )
    return out


def generation_request_pb(
    req: GenerationRequest, guardrail_id: str, guardrail_version: str
) -> image_generation_pb2.GenerateImagesRequest:
    """The generator's request for a generation service elsewhere, which adds the guardrail's negative prompts."""
    out = image_generation_pb2.GenerateImagesRequest(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        width=req.width,
        height=req.height,
        num_images=req.num_images,
        steps=req.steps,
        guidance_scale=req.guidance_scale,
        guardrail_id=guardrail_id,
        guardrail_version=guardrail_version,
    )
    if req.seed is not None:
        out.seed = req.seed
    return out


def generation_result(r: image_generation_pb2.GenerateImagesResponse) -> GenerationResult:
    return GenerationResult(
        images=list(r.images),
        seeds=list(r.seeds),
        model_id=r.model_id,
        backend=r.backend,
        negative_prompt=r.negative_prompt,
        negative_prompt_applied=r.negative_prompt_applied,
        notes=list(r.notes),
        intervened=r.action == _INTERVENED,
        intervention_reason=r.action_reason,
    )
