"""Text moderation settings (SAFEGEN_TEXT_*), typed and parsed once at start.

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

import enum
from dataclasses import dataclass, field
from typing import Mapping

from safegen.core.settings import Env, SettingsError
from safegen.core.types import Category


class TextBackendKind(str, enum.Enum):
    """Which CategoryBackend scores the categories."""

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
    backend: TextBackendKind = TextBackendKind.LOCAL
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
            backend=e.enum("SAFEGEN_TEXT_BACKEND", TextBackendKind, TextBackendKind.LOCAL),
            require_classifier=e.bool("SAFEGEN_TEXT_REQUIRE_CLASSIFIER", True),
            comprehend_endpoint_arn=e.str("SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN"),
            comprehend_class_map=class_map,
            comprehend_thresholds=_thresholds(
                e.str("SAFEGEN_TEXT_COMPREHEND_THRESHOLDS", "0.5,0.7,0.9"), "SAFEGEN_TEXT_COMPREHEND_THRESHOLDS"
            ),
            comprehend_language=e.str("SAFEGEN_TEXT_COMPREHEND_LANGUAGE", "en") or "en",
            bedrock_guardrail_id=e.str("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID"),
            bedrock_guardrail_version=e.str("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_VERSION", "DRAFT") or "DRAFT",
        )
        if s.backend == TextBackendKind.BEDROCK and not s.bedrock_guardrail_id:
            raise SettingsError("SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID is required when SAFEGEN_TEXT_BACKEND=bedrock")
        if s.comprehend_endpoint_arn and not s.comprehend_endpoint_arn.startswith("arn:"):
            raise SettingsError(
                f"SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN={s.comprehend_endpoint_arn!r}: expected an "
                "arn:aws:comprehend:...:document-classifier-endpoint/... ARN"
            )
        return s
