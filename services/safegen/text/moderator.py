"""TextModerator: validates a text, scores it with a category backend, matches the word lists, applies the guardrail."""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from safegen.core.types import Modality, Source, FilterVerdict, WordMatch
from safegen.errors import InvalidArgument
from safegen.policy import GuardrailRegistry
from safegen.text.backends import CategoryBackend
from safegen.text.words import find_words

#: The contract's limit (ModerateTextRequest.text: at most 10,000 characters), as Bedrock's text limit.
MAX_TEXT_CHARS = 10_000

BACKEND_SECONDS = Histogram(
    "safegen_text_backend_seconds", "Category backend time per text", ["backend"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56))
WORDS_SECONDS = Histogram(
    "safegen_text_words_seconds", "Word-list matching time per text",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05))
WORD_MATCHES = Counter("safegen_text_word_matches_total", "Banned-word matches", ["word_list"])


@dataclass(frozen=True)
class TextVerdict:
    """The guardrail's verdict on a text."""

    intervened: bool
    filters: list[FilterVerdict]
    words: list[WordMatch]
    guardrail_id: str
    backend: str


def validate_text(text: str) -> None:
    """Empty (or blank) and over-long texts are caller errors, with the limit named."""
    if not text or not text.strip():
        raise InvalidArgument("text must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"text is {len(text):,} characters long; at most {MAX_TEXT_CHARS:,} are allowed")


class TextModerator:
    """One per process: thread-safe (backends are called from worker threads; matchers are immutable)."""

    def __init__(self, registry: GuardrailRegistry, category_backend: CategoryBackend):
        self.registry = registry
        self.backend = category_backend
        self._backend_seconds = BACKEND_SECONDS.labels(getattr(category_backend, "name", "unknown"))

    def moderate(self, text: str, source: Source = Source.INPUT, guardrail_id: str = "") -> TextVerdict:
        validate_text(text)
        guardrail = self.registry.get(guardrail_id)  # NotFound names the known guardrails
        t0 = time.perf_counter()
        words = find_words(text, managed=guardrail.managed_profanity, custom=guardrail.custom_words)
        t1 = time.perf_counter()
        WORDS_SECONDS.observe(t1 - t0)
        assessment = self.backend.assess(text, source)
        self._backend_seconds.observe(time.perf_counter() - t1)
        # Words the backend itself reports (Bedrock's word policy) join ours unless the span is already there.
        seen = {(m.start, m.end, m.word_list) for m in words}
        for m in assessment.words:
            if (m.start, m.end, m.word_list) not in seen:
                words.append(m)
                seen.add((m.start, m.end, m.word_list))
        words.sort(key=lambda m: (m.start, m.end, m.word_list.value))
        for m in words:
            WORD_MATCHES.labels(m.word_list.value).inc()
        filters = guardrail.evaluate(assessment.scores, source, Modality.TEXT)
        intervened = bool(words) or any(f.detected for f in filters)
        return TextVerdict(intervened, filters, words, guardrail.id, assessment.backend or self.backend.name)
