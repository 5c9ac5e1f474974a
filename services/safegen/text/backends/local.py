"""The local backends: the trained six-category classifier, and a words-only stand-in when it cannot load."""

from __future__ import annotations

import logging

from safegen.core.types import Source, TextAssessment
from safegen.text.words import plain_reading

log = logging.getLogger(__name__)


class LocalClassifierBackend:
    """safegen.text.classifier.LocalClassifier (MiniLM backbone + heads trained in this repo)."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.name = f"local:{getattr(classifier, 'name', 'classifier')}"

    def assess(self, text: str, source: Source) -> TextAssessment:
        # An obfuscated prompt ("a nak3d woman", "n u d e") is also scored as plainly spelt, in the same
        # batch, and each category keeps the higher score: the classifier learnt ordinary spelling.
        # Plain text (30k COCO captions: all but one) costs nothing extra.
        plain = plain_reading(text)
        texts = [text] if plain is None else [text, plain]
        rows = self.classifier.score(texts)
        scores = dict(rows[0])
        for row in rows[1:]:
            for category, score in row.items():
                if category not in scores or score.score > scores[category].score:
                    scores[category] = score
        return TextAssessment(scores=scores, backend=self.name)


class WordsOnlyBackend:
    """No category scores at all: only the word lists decide. Used when the classifier cannot load, and
    named "local-words-only" in every response so nobody mistakes it for the real thing."""

    name = "local-words-only"

    def assess(self, text: str, source: Source) -> TextAssessment:
        return TextAssessment(scores={}, backend=self.name)


def load_local(env=None, require_classifier: bool = False):
    """The classifier backend, or WordsOnlyBackend with a loud log line when the classifier cannot load
    and `require_classifier` is false (with it true, the load error stops the process at start)."""
    try:
        from safegen.text.classifier import LocalClassifier

        return LocalClassifierBackend(LocalClassifier.load(env=env))
    except Exception as e:  # noqa: BLE001 - any load failure (missing heads, model, package) degrades the same way
        if require_classifier:
            raise
        log.error(
            "text classifier unavailable (%s): text moderation runs WORDS-ONLY, backend "
            "'local-words-only'; categories will not be scored. Set SAFEGEN_TEXT_REQUIRE_CLASSIFIER=true "
            "to refuse to start instead.",
            e,
        )
        return WordsOnlyBackend()
