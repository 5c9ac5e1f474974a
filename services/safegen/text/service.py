"""The text moderation service: settings, backend wiring and the thin grpc.aio servicer for ModerateText.

Settings (prefix SAFEGEN_TEXT_), validated at start:
  SAFEGEN_TEXT_BACKEND                  local | comprehend | bedrock                       (default local)
  SAFEGEN_TEXT_REQUIRE_CLASSIFIER       true: refuse to start when the local classifier cannot load;
                                        false: run words-only, backend "local-words-only" (default true)
  SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN  ClassifyDocument endpoint (custom or prompt-safety classifier)
  SAFEGEN_TEXT_COMPREHEND_CLASS_MAP     extra endpoint class names, e.g. "nsfw=SEXUAL,jailbreak=PROMPT_ATTACK"
  SAFEGEN_TEXT_COMPREHEND_THRESHOLDS    score thresholds for LOW,MEDIUM,HIGH confidence   (default 0.5,0.7,0.9)
  SAFEGEN_TEXT_COMPREHEND_LANGUAGE      DetectToxicContent language code                  (default en)
  SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID     Bedrock guardrail id or ARN (required for backend=bedrock)
  SAFEGEN_TEXT_BEDROCK_GUARDRAIL_VERSION  guardrail version                               (default DRAFT)
The local classifier reads its own SAFEGEN_TEXT_CLASSIFIER_* settings (safegen.text.classifier).
AWS client settings (region, endpoint, retries, timeouts) come from safegen.core.settings.AwsSettings.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Mapping

from safegen.core.settings import Env, SettingsError
from safegen.core.types import Category, Level, Source, WordMatch
from safegen.policy import GuardrailRegistry
from safegen.text.backends import CategoryBackend
from safegen.text.engine import TextModerator, TextVerdict
from safegen.v1 import common_pb2, text_moderation_pb2, text_moderation_pb2_grpc


class Backend(str, enum.Enum):
    LOCAL = "local"
    COMPREHEND = "comprehend"
    BEDROCK = "bedrock"


def _thresholds(raw: str, name: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not (0.0 <= values[0] <= values[1] <= values[2] <= 1.0):
        raise SettingsError(f"{name}={raw!r}: expected three increasing numbers in [0, 1], e.g. 0.5,0.7,0.9")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class TextSettings:
    backend: Backend = Backend.LOCAL
    require_classifier: bool = True
    comprehend_endpoint_arn: str = ""
    comprehend_class_map: dict[str, Category] = field(default_factory=dict)
    comprehend_thresholds: tuple[float, float, float] = (0.5, 0.7, 0.9)
    comprehend_language: str = "en"
    bedrock_guardrail_id: str = ""
    bedrock_guardrail_version: str = "DRAFT"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "TextSettings":
        from safegen.text.backends.comprehend import parse_class_map

        e = Env(env)
        raw_map = e.str("SAFEGEN_TEXT_COMPREHEND_CLASS_MAP")
        try:
            class_map = parse_class_map(raw_map)
        except ValueError as err:
            raise SettingsError(f"SAFEGEN_TEXT_COMPREHEND_CLASS_MAP: {err}") from None
        s = cls(
            backend=e.enum("SAFEGEN_TEXT_BACKEND", Backend, Backend.LOCAL),
            require_classifier=e.bool("SAFEGEN_TEXT_REQUIRE_CLASSIFIER", True),
            comprehend_endpoint_arn=e.str("SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN"),
            comprehend_class_map=class_map,
            comprehend_thresholds=_thresholds(e.str("SAFEGEN_TEXT_COMPREHEND_THRESHOLDS", "0.5,0.7,0.9"),
                                              "SAFEGEN_TEXT_COMPREHEND_THRESHOLDS"),
            comprehend_language=e.str("SAFEGEN_TEXT_COMPREHEND_LANGUAGE", "en") or "en",
            bedrock_guardrail_id=e.str("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_VERSION", "DRAFT") or "DRAFT",
        )
        if s.backend == Backend.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_TEXT_BACKEND=bedrock")
        if s.comprehend_endpoint_arn and not s.comprehend_endpoint_arn.startswith("arn:"):
            raise SettingsError(f"SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN={s.comprehend_endpoint_arn!r}: expected an "
                                "arn:aws:comprehend:...:document-classifier-endpoint/... ARN")
        return s


def build_backend(settings: TextSettings, env: Mapping[str, str] | None = None, client=None) -> CategoryBackend:
    """The backend the settings ask for; models and AWS clients are created here, at start."""
    if settings.backend == Backend.LOCAL:
        from safegen.text.backends.local import load_local

        return load_local(env, settings.require_classifier)
    from safegen.core.settings import AwsSettings

    aws = AwsSettings.from_env(env)
    if settings.backend == Backend.COMPREHEND:
        from safegen.text.backends.comprehend import ComprehendBackend

        return ComprehendBackend(client or aws.client("comprehend"), settings.comprehend_endpoint_arn,
                                 settings.comprehend_thresholds, settings.comprehend_class_map,
                                 settings.comprehend_language)
    from safegen.text.backends.bedrock import BedrockBackend

    return BedrockBackend(client or aws.client("bedrock-runtime"), settings.bedrock_guardrail_id,
                          settings.bedrock_guardrail_version)


# --- proto <-> domain ---------------------------------------------------------------------------------

def _source(value: int) -> Source:
    return Source.OUTPUT if value == common_pb2.SOURCE_OUTPUT else Source.INPUT  # unspecified = input


def _level(prefix: str, level: Level) -> int:
    return common_pb2.Confidence.Value(f"CONFIDENCE_{level.name}") if prefix == "c" else \
        common_pb2.FilterStrength.Value(f"FILTER_STRENGTH_{level.name}")


def _word(m: WordMatch) -> common_pb2.WordMatch:
    return common_pb2.WordMatch(match=m.match, start=m.start, end=m.end,
                                word_list=common_pb2.WordList.Value(f"WORD_LIST_{m.word_list.value}"), word=m.word)


def to_response(v: TextVerdict) -> text_moderation_pb2.ModerateTextResponse:
    return text_moderation_pb2.ModerateTextResponse(
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.intervened else common_pb2.ACTION_NONE,
        filters=[common_pb2.FilterResult(
            category=common_pb2.Category.Value(f"CATEGORY_{f.category.value}"), score=f.score,
            confidence=_level("c", f.confidence), filter_strength=_level("s", f.strength), detected=f.detected)
            for f in v.filters],
        words=[_word(m) for m in v.words],
        guardrail_id=v.guardrail_id,
        backend=v.backend,
    )


class TextModerationServicer(text_moderation_pb2_grpc.TextModerationServiceServicer):
    """safegen.v1.TextModerationService: converts and delegates; domain errors reach the interceptor."""

    def __init__(self, moderator: TextModerator):
        self.moderator = moderator

    async def ModerateText(self, request, context):  # noqa: N802 - generated name
        verdict = await asyncio.to_thread(
            self.moderator.moderate, request.text, _source(request.source), request.guardrail_id)
        return to_response(verdict)


def create_servicer(registry: GuardrailRegistry, env: Mapping[str, str] | None = None,
                    backend: CategoryBackend | None = None, **_injected) -> TextModerationServicer:
    """Builds the servicer from SAFEGEN_TEXT_* settings (or an injected backend, for tests)."""
    settings = TextSettings.from_env(env)
    if backend is None:
        backend = build_backend(settings, env)
    from safegen.text.words import custom_matcher, managed_matcher

    # Compile every list at start, not on a first request (10,000 custom words take ~0.5 s).
    managed_matcher()
    for g in registry.all():
        if g.custom_words:
            custom_matcher(tuple(g.custom_words))
    return TextModerationServicer(TextModerator(registry, backend))
