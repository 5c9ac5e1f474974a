"""The thin grpc.aio servicer for TextModerationService/ModerateText: proto <-> domain, and its wiring."""

from __future__ import annotations

import asyncio
import time
from typing import Mapping

from safegen.core import audit_pb, policy_pb
from safegen.core.enums import check_enum
from safegen.core.types import Level, Source, WordMatch
from safegen.policy import GuardrailRegistry
from safegen.policy.audit import AuditLog, process_audit_log
from safegen.text.backends import CategoryBackend, build_backend
from safegen.text.moderator import TextModerator, TextVerdict
from safegen.text.settings import TextSettings
from safegen.text.threats import ThreatMatch
from safegen.v1 import common_pb2, text_moderation_pb2, text_moderation_pb2_grpc


def _source(value: int) -> Source:
    check_enum(value, common_pb2.Source.DESCRIPTOR, "source")
    return Source.OUTPUT if value == common_pb2.SOURCE_OUTPUT else Source.INPUT  # unspecified = input


def _level(prefix: str, level: Level) -> int:
    return (
        common_pb2.Confidence.Value(f"CONFIDENCE_{level.name}")
        if prefix == "c"
        else common_pb2.FilterStrength.Value(f"FILTER_STRENGTH_{level.name}")
    )


def _word(m: WordMatch) -> common_pb2.WordMatch:
    return common_pb2.WordMatch(
        match=m.match,
        start=m.start,
        end=m.end,
        word_list=common_pb2.WordList.Value(f"WORD_LIST_{m.word_list.value}"),
        word=m.word,
        action=policy_pb.word_action(m),
    )


def _threat(t: ThreatMatch) -> common_pb2.ThreatMatch:
    return common_pb2.ThreatMatch(
        match=t.match,
        start=t.start,
        end=t.end,
        category=common_pb2.CATEGORY_VIOLENCE,
        kind=t.kind,
        action=common_pb2.POLICY_ACTION_BLOCKED if t.enforced else common_pb2.POLICY_ACTION_NONE,
    )


def to_response(v: TextVerdict) -> text_moderation_pb2.ModerateTextResponse:
    return text_moderation_pb2.ModerateTextResponse(
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.intervened else common_pb2.ACTION_NONE,
        filters=[
            common_pb2.FilterResult(
                category=common_pb2.Category.Value(f"CATEGORY_{f.category.value}"),
                score=f.score,
                confidence=_level("c", f.confidence),
                filter_strength=_level("s", f.strength),
                detected=f.detected,
                action=policy_pb.filter_action(f),
            )
            for f in v.filters
        ],
        words=[_word(m) for m in v.words],
        guardrail_id=v.guardrail_id,
        backend=v.backend,
        guardrail_version=v.guardrail_version,
        detected_action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.detected else common_pb2.ACTION_NONE,
        blocked=v.blocked,
        topics=policy_pb.topic_results(v.topics, v.shadow),
        sensitive_information=policy_pb.sensitive_results(v.sensitive, v.shadow),
        anonymized_text=v.anonymized_text,
        threats=[_threat(t) for t in v.threats],
    )


class TextModerationServicer(text_moderation_pb2_grpc.TextModerationServiceServicer):
    """safegen.v1.TextModerationService: converts and delegates; domain errors reach the interceptor."""

    def __init__(self, moderator: TextModerator, audit: AuditLog | None = None):
        self.moderator = moderator
        self.audit = audit

    async def ModerateText(self, request, context):  # noqa: N802 - generated name
        t0 = time.perf_counter()
        resp = await self.moderate(request)
        if self.audit is not None and not audit_pb.is_gateway_call(context):  # the gateway logs its own calls
            self.audit.record(
                audit_pb.text_record(
                    request, resp, audit_pb.request_id_of(context), time.perf_counter() - t0, self.audit.content
                )
            )
        return resp

    async def moderate(
        self, request: text_moderation_pb2.ModerateTextRequest
    ) -> text_moderation_pb2.ModerateTextResponse:
        """ModerateText without the transport: the gRPC method, and the all-in-one gateway's in-process calls."""
        source = _source(request.source)
        tighten = policy_pb.tightening(request.tighten_filters)
        verdict = await asyncio.to_thread(
            self.moderator.moderate, request.text, source, request.guardrail_id, request.guardrail_version, tighten
        )
        return to_response(verdict)


def create_servicer(
    registry: GuardrailRegistry,
    env: Mapping[str, str] | None = None,
    backend: CategoryBackend | None = None,
    **_injected,
) -> TextModerationServicer:
    """Builds the servicer from SAFEGEN_TEXT_* settings (or an injected backend, for tests)."""
    settings = TextSettings.from_env(env)
    if backend is None:
        backend = build_backend(settings, env)
    from safegen.text.words import managed_matcher

    # Compile every list and embed every denied topic at start, and for each reloaded guardrail before it
    # serves, not on a first request (10,000 custom words take ~0.5 s).
    managed_matcher()
    moderator = TextModerator(registry, backend)
    registry.add_preparer(moderator.prepare)
    return TextModerationServicer(moderator, process_audit_log(env))
