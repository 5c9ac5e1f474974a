"""TextModerator: validates a text, scores it with a category backend, matches words and threats, topics and sensitive
information, and applies the guardrail (its actions, detect-only policies and SHADOW mode)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Mapping

from prometheus_client import Counter, Histogram

from safegen.core.types import Category, CategoryScore, FilterVerdict, Level, Modality, Source, WordListKind, WordMatch
from safegen.errors import InvalidArgument
from safegen.policy import Guardrail, GuardrailRegistry
from safegen.policy.pii import SensitiveAction, SensitiveMatch, anonymize, find_sensitive
from safegen.policy.topics import TopicIndex, TopicMatch
from safegen.text.backends import CategoryBackend
from safegen.text.threats import ThreatMatch, find_threats
from safegen.text.words import custom_matcher, find_words

#: The contract's limit (ModerateTextRequest.text: at most 10,000 characters), as Bedrock's text limit.
MAX_TEXT_CHARS = 10_000

BACKEND_SECONDS = Histogram(
    "safegen_text_backend_seconds",
    "Category backend time per text",
    ["backend"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
)
WORDS_SECONDS = Histogram(
    "safegen_text_words_seconds",
    "Word-list matching time per text",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05),
)
WORD_MATCHES = Counter("safegen_text_word_matches_total", "Banned-word matches", ["word_list"])
POLICY_SECONDS = Histogram(
    "safegen_text_policy_seconds",
    "Denied-topic and sensitive-information time per text",
    ["policy"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2),
)
TOPIC_MATCHES = Counter("safegen_text_topic_matches_total", "Texts on a denied topic", ["action"])
THREATS_SECONDS = Histogram(
    "safegen_text_threats_seconds",
    "Threat-rule time per text",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05),
)
THREAT_MATCHES = Counter("safegen_text_threat_matches_total", "Threats found by the threat rules", ["kind"])
#: The VIOLENCE score a threat gives (with HIGH confidence): the rules give no probability, so the score is
#: nominal, as for Bedrock's confidences (0.95 for HIGH).
THREAT_SCORE = 0.95
SENSITIVE_MATCHES = Counter("safegen_text_sensitive_matches_total", "Sensitive-information matches", ["kind", "action"])


@dataclass(frozen=True)
class TextVerdict:
    """The guardrail's verdict on a text."""

    intervened: bool  # a BLOCK policy blocked, or ANONYMIZE replaced something
    filters: list[FilterVerdict]
    words: list[WordMatch]
    guardrail_id: str
    backend: str
    guardrail_version: str = "DRAFT"
    blocked: bool = False  # a BLOCK policy intervened (the text must not be used)
    detected: bool = False  # anything was detected, enforced or not: what the guardrail would have done
    topics: list[TopicMatch] = field(default_factory=list)
    sensitive: list[SensitiveMatch] = field(default_factory=list)
    anonymized_text: str = ""  # the text with {TYPE} in place of ANONYMIZE matches; empty when none
    shadow: bool = False
    #: Threats found by the rules (safegen.text.threats), with spans; they make VIOLENCE HIGH. Empty when the
    #: VIOLENCE filter did not detect (reported_threats).
    threats: list[ThreatMatch] = field(default_factory=list)


def validate_text(text: str) -> None:
    """Empty (or blank) and over-long texts are caller errors, with the limit named."""
    if not text or not text.strip():
        raise InvalidArgument("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"text is {len(text):,} characters long; at most {MAX_TEXT_CHARS:,} are allowed")


def with_threats(scores: Mapping[Category, CategoryScore], threats: list[ThreatMatch]) -> dict[Category, CategoryScore]:
    """The backend's scores with VIOLENCE raised to HIGH when the threat rules found a threat: the classifier
    (or a managed backend) decides every other case, the guardrail's VIOLENCE strength still applies."""
    out = dict(scores)
    if not threats:
        return out
    for t in threats:
        THREAT_MATCHES.labels(t.kind).inc()
    cur = out.get(Category.VIOLENCE)
    if cur is None or cur.confidence < Level.HIGH:
        out[Category.VIOLENCE] = CategoryScore(
            Category.VIOLENCE, max(THREAT_SCORE, cur.score if cur else 0.0), Level.HIGH
        )
    return out


def reported_threats(threats: list[ThreatMatch], filters: list[FilterVerdict]) -> list[ThreatMatch]:
    """The threats a verdict reports: none when the guardrail's VIOLENCE filter did not detect (it is off for
    this source, as word matches are when the word policy is), else each with the filter's enforcement."""
    violence = next((f for f in filters if f.category == Category.VIOLENCE), None)
    if violence is None or not violence.detected:
        return []
    return [replace(t, enforced=violence.enforced) for t in threats]


class TextModerator:
    """One per process: thread-safe (backends are called from worker threads; matchers are immutable)."""

    def __init__(self, registry: GuardrailRegistry, category_backend: CategoryBackend, encoder=None):
        self.registry = registry
        self.backend = category_backend
        self._backend_seconds = BACKEND_SECONDS.labels(getattr(category_backend, "name", "unknown"))
        self._encoder = encoder  # loaded on the first guardrail with denied topics (policy/encoder.py)

    @property
    def encoder(self):
        if self._encoder is None:
            from safegen.policy.encoder import encoder_for

            self._encoder = encoder_for(self.backend)
        return self._encoder

    def prepare(self, guardrail: Guardrail) -> None:
        """Work done once per loaded guardrail, before it serves: compile its custom words, embed its topics."""
        if guardrail.custom_words:
            custom_matcher(tuple(guardrail.custom_words))
        if guardrail.topics and "topics" not in guardrail.prepared:
            guardrail.prepared["topics"] = TopicIndex(guardrail.topics, self.encoder, guardrail.topic_threshold)

    def moderate(
        self,
        text: str,
        source: Source = Source.INPUT,
        guardrail_id: str = "",
        guardrail_version: str = "",
        tighten: Mapping[Category, tuple[Level | None, Level | None]] | None = None,
    ) -> TextVerdict:
        validate_text(text)
        guardrail = self.registry.get(guardrail_id, guardrail_version)  # NotFound names the known ones
        if tighten:
            guardrail = guardrail.tightened(tighten)
        return self.moderate_with(guardrail, text, source)

    def moderate_with(self, guardrail: Guardrail, text: str, source: Source) -> TextVerdict:
        """The verdict of one resolved guardrail (the caller holds it: a reload cannot change it midway)."""
        t0 = time.perf_counter()
        words = self._words(guardrail, text, source)
        t1 = time.perf_counter()
        WORDS_SECONDS.observe(t1 - t0)
        assessment = self.backend.assess(text, source)
        t2 = time.perf_counter()
        self._backend_seconds.observe(t2 - t1)
        # Words the backend itself reports (Bedrock's word policy) join ours unless the span is already there.
        seen = {(m.start, m.end, m.word_list) for m in words}
        for m in assessment.words:
            if (m.start, m.end, m.word_list) not in seen:
                words.append(replace(m, enforced=not guardrail.shadow))
                seen.add((m.start, m.end, m.word_list))
        words.sort(key=lambda m: (m.start, m.end, m.word_list.value))
        for m in words:
            WORD_MATCHES.labels(m.word_list.value).inc()
        t_threats = time.perf_counter()
        threats = find_threats(text)
        THREATS_SECONDS.observe(time.perf_counter() - t_threats)
        scores = with_threats(assessment.scores, threats)
        filters = guardrail.evaluate(scores, source, Modality.TEXT)
        threats = reported_threats(threats, filters)
        output = source == Source.OUTPUT
        topics = self._topics(guardrail, text, output)
        t3 = time.perf_counter()
        sensitive = find_sensitive(text, guardrail.sensitive, output) if guardrail.sensitive else []
        if guardrail.sensitive:
            POLICY_SECONDS.labels("sensitive_information").observe(time.perf_counter() - t3)
        for t in topics:
            if t.detected:
                TOPIC_MATCHES.labels(t.action.value).inc()
        for s in sensitive:
            SENSITIVE_MATCHES.labels(s.kind.value, s.action.value).inc()

        blocked = (
            any(m.enforced for m in words)
            or any(f.intervenes for f in filters)
            or any(t.detected and guardrail.enforces(t.action) for t in topics)
            or any(s.action == SensitiveAction.BLOCK and not guardrail.shadow for s in sensitive)
        )
        anonymized = ""
        if not guardrail.shadow and any(s.action == SensitiveAction.ANONYMIZE for s in sensitive):
            anonymized = anonymize(text, sensitive)
        detected = bool(words) or any(f.detected for f in filters) or any(t.detected for t in topics) or bool(sensitive)
        return TextVerdict(
            intervened=blocked or bool(anonymized),
            filters=filters,
            words=words,
            guardrail_id=guardrail.id,
            backend=assessment.backend or self.backend.name,
            guardrail_version=guardrail.version_name,
            blocked=blocked,
            detected=detected,
            topics=topics,
            sensitive=sensitive,
            anonymized_text=anonymized,
            shadow=guardrail.shadow,
            threats=threats,
        )

    @staticmethod
    def _words(guardrail: Guardrail, text: str, source: Source) -> list[WordMatch]:
        managed = guardrail.managed_action(source)
        block, detect = guardrail.custom_words_by_action(source)
        if managed is None and not block and not detect:
            return []
        # The whole custom list is matched (one compiled matcher per guardrail), then split by action.
        found = find_words(
            text, managed=managed is not None, custom=tuple(guardrail.custom_words) if (block or detect) else ()
        )
        detect_set, block_set = set(detect), set(block)
        out = []
        for m in found:
            if m.word_list == WordListKind.MANAGED_PROFANITY:
                out.append(replace(m, enforced=guardrail.enforces(managed)))
            elif m.word in block_set:
                out.append(replace(m, enforced=not guardrail.shadow))
            elif m.word in detect_set:
                out.append(replace(m, enforced=False))
        return out

    def _topics(self, guardrail: Guardrail, text: str, output: bool) -> list[TopicMatch]:
        if not guardrail.topics:
            return []
        t0 = time.perf_counter()
        index = guardrail.prepared.get("topics")
        if index is None:  # a guardrail built outside the registry (tests, tools): embed now
            self.prepare(guardrail)
            index = guardrail.prepared["topics"]
        matches = index.match(self.encoder.embed([text])[0], output)
        POLICY_SECONDS.labels("topics").observe(time.perf_counter() - t0)
        return matches
