"""Amazon Bedrock ApplyGuardrail as a text backend: content-filter confidences and word-policy matches.

Bedrock reports a confidence (NONE/LOW/MEDIUM/HIGH) per category, not a probability: the score we
report is a nominal value per level (the same as the image backend's). Our guardrail then applies its
own strengths to those confidences, so the Bedrock guardrail's strengths only matter for what Bedrock
itself reports. Word-policy matches (custom words, managed PROFANITY list) come back as matched text;
their spans are located in the original text (exactly, then case-insensitively, then through our
normalization), and a match that cannot be located is reported with an empty span at 0.
"""

from __future__ import annotations

import re

from safegen.core.types import Category, CategoryScore, Level, Source, TextAssessment, WordListKind, WordMatch

#: Bedrock confidence -> the score we report (Bedrock gives no probability).
BEDROCK_SCORE = {Level.NONE: 0.0, Level.LOW: 0.5, Level.MEDIUM: 0.75, Level.HIGH: 0.95}


def locate(text: str, match: str, taken: set[tuple[int, int]]) -> tuple[int, int]:
    """The first not-yet-reported span of `match` in `text`: exact, case-insensitive, then normalized."""
    if not match:
        return 0, 0
    for pattern in (re.escape(match), "(?i)" + re.escape(match)):
        for m in re.finditer(pattern, text):
            if (m.start(), m.end()) not in taken:
                return m.start(), m.end()
    from safegen.text.normalize import normalize

    norm, needle = normalize(text), normalize(match).text.strip()
    if needle:
        i = norm.text.find(needle)
        while i >= 0:
            span = norm.original_span(i, i + len(needle))
            if span not in taken:
                return span
            i = norm.text.find(needle, i + 1)
    return 0, 0


class BedrockBackend:
    """bedrock-runtime ApplyGuardrail on a text content block, with outputScope FULL so that filters
    that did not intervene still report their confidence."""

    def __init__(self, client, guardrail_id: str, guardrail_version: str = "DRAFT"):
        self.client = client
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version
        self.name = "bedrock"

    def assess(self, text: str, source: Source) -> TextAssessment:
        from safegen.core.aws import map_aws_error

        try:
            resp = self.client.apply_guardrail(
                guardrailIdentifier=self.guardrail_id,
                guardrailVersion=self.guardrail_version,
                source="OUTPUT" if source == Source.OUTPUT else "INPUT",
                content=[{"text": {"text": text}}],
                outputScope="FULL",
            )
        except Exception as e:  # noqa: BLE001 - every botocore failure maps to one domain error
            raise map_aws_error(e, "Bedrock ApplyGuardrail") from None
        return self.from_response(resp, text)

    def from_response(self, resp: dict, text: str) -> TextAssessment:
        best: dict[Category, Level] = {}
        words: list[WordMatch] = []
        taken: set[tuple[int, int]] = set()
        for a in resp.get("assessments", []):
            for f in (a.get("contentPolicy") or {}).get("filters", []):
                try:
                    cat, level = Category(f.get("type", "")), Level.parse(f.get("confidence", "NONE"))
                except ValueError:
                    continue  # a filter type newer than our categories: not counted, not invented
                best[cat] = max(best.get(cat, Level.NONE), level)
            wp = a.get("wordPolicy") or {}
            for kind, key in (
                (WordListKind.CUSTOM, "customWords"),
                (WordListKind.MANAGED_PROFANITY, "managedWordLists"),
            ):
                for w in wp.get(key, []):
                    if w.get("detected") is False and w.get("action") != "BLOCKED":
                        continue
                    start, end = locate(text, w.get("match", ""), taken)
                    taken.add((start, end))
                    words.append(
                        WordMatch(
                            text[start:end] if end > start else w.get("match", ""),
                            start,
                            end,
                            kind,
                            w.get("match", "").lower(),
                        )
                    )
        scores = {c: CategoryScore(c, BEDROCK_SCORE[lv], lv) for c, lv in best.items()}
        return TextAssessment(scores=scores, words=sorted(words, key=lambda m: (m.start, m.end)), backend=self.name)
