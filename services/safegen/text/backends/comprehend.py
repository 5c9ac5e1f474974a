"""Amazon Comprehend as a text backend: DetectToxicContent, plus ClassifyDocument on a custom endpoint ARN.

DetectToxicContent's labels map onto our categories (max over labels and segments):
  SEXUAL -> SEXUAL; VIOLENCE_OR_THREAT, GRAPHIC -> VIOLENCE; HATE_SPEECH -> HATE;
  INSULT, HARASSMENT_OR_ABUSE, PROFANITY -> INSULTS.
It has no MISCONDUCT or PROMPT_ATTACK signal; a ClassifyDocument endpoint (a custom classifier, or
Comprehend's prompt-safety classifier) fills those in: its class/label names are matched to categories
by name (SEXUAL, ..., PROMPT_ATTACK, case-insensitive), by Comprehend's prompt-safety class UNSAFE_PROMPT
(-> PROMPT_ATTACK), or by an explicit map setting. Scores become confidences with fixed thresholds
(a setting), since Comprehend's scores are not calibrated on our data.

Limits handled here: DetectToxicContent takes at most 10 segments of at most 1 KB each per call (10 KB
per call), ClassifyDocument at most 10 KB of UTF-8 text; longer texts are split on character (and where
possible whitespace) boundaries and the maximum score wins.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

from safegen.core.types import Category, CategoryScore, Source, TextAssessment, confidence_for

TOXIC_LABELS: dict[str, Category] = {
    "SEXUAL": Category.SEXUAL,
    "VIOLENCE_OR_THREAT": Category.VIOLENCE,
    "GRAPHIC": Category.VIOLENCE,
    "HATE_SPEECH": Category.HATE,
    "INSULT": Category.INSULTS,
    "HARASSMENT_OR_ABUSE": Category.INSULTS,
    "PROFANITY": Category.INSULTS,
}
#: Class names a ClassifyDocument endpoint may use besides our category names.
DEFAULT_CLASS_MAP: dict[str, Category] = {"UNSAFE_PROMPT": Category.PROMPT_ATTACK}
DEFAULT_THRESHOLDS = (0.5, 0.7, 0.9)
SEGMENT_BYTES = 1000  # under DetectToxicContent's 1 KB per segment
SEGMENTS_PER_CALL = 10
CLASSIFY_BYTES = 10_000  # ClassifyDocument: UTF-8 text documents up to 10 KB


def split_utf8(text: str, max_bytes: int) -> Iterator[str]:
    """Pieces of `text` of at most `max_bytes` UTF-8 bytes, cut at whitespace when one is near the end."""
    start = 0
    n = len(text)
    while start < n:
        end, size = start, 0
        while end < n:
            b = len(text[end].encode("utf-8"))
            if size + b > max_bytes:
                break
            size += b
            end += 1
        if end < n:
            cut = text.rfind(" ", start + 1, end)
            if cut > start + (end - start) // 2:  # keep words whole unless that halves the piece
                end = cut + 1
        piece = text[start:end]
        if piece.strip():
            yield piece
        start = end


def parse_class_map(raw: str) -> dict[str, Category]:
    """ "name=CATEGORY,name2=CATEGORY" -> mapping (ValueError naming the bad entry)."""
    out: dict[str, Category] = {}
    for item in (p.strip() for p in raw.split(",")):
        if not item:
            continue
        name, sep, cat = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip().upper()] = Category(cat.strip().upper())
        except ValueError:
            raise ValueError(
                f"{item!r}: expected NAME=CATEGORY with CATEGORY one of {', '.join(c.value for c in Category)}"
            ) from None
    return out


class ComprehendBackend:
    """DetectToxicContent (+ ClassifyDocument when an endpoint ARN is set) mapped to our categories."""

    def __init__(
        self,
        client,
        endpoint_arn: str = "",
        thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
        class_map: Mapping[str, Category] | None = None,
        language: str = "en",
    ):
        self.client = client
        self.endpoint_arn = endpoint_arn
        self.thresholds = tuple(thresholds)
        self.class_map = {**DEFAULT_CLASS_MAP, **{c.value: c for c in Category}, **(class_map or {})}
        self.language = language
        self.name = "comprehend+classifier" if endpoint_arn else "comprehend"

    def assess(self, text: str, source: Source) -> TextAssessment:
        best: dict[Category, float] = {}

        def keep(cat: Category, score: float) -> None:
            best[cat] = max(best.get(cat, 0.0), min(max(float(score), 0.0), 1.0))

        for resp in self._detect_toxic(text):
            for result in resp.get("ResultList", []):
                for label in result.get("Labels", []):
                    cat = TOXIC_LABELS.get(label.get("Name", ""))
                    if cat is not None:
                        keep(cat, label.get("Score", 0.0))
        if self.endpoint_arn:
            for resp in self._classify(text):
                for item in list(resp.get("Classes", [])) + list(resp.get("Labels", [])):
                    cat = self.class_map.get(str(item.get("Name", "")).upper())
                    if cat is not None:
                        keep(cat, item.get("Score", 0.0))
        scores = {c: CategoryScore(c, s, confidence_for(s, self.thresholds)) for c, s in best.items()}
        return TextAssessment(scores=scores, backend=self.name)

    def _detect_toxic(self, text: str) -> Iterator[dict]:
        from safegen.core.aws import map_aws_error

        segments = list(split_utf8(text, SEGMENT_BYTES))
        for i in range(0, len(segments), SEGMENTS_PER_CALL):
            batch = segments[i : i + SEGMENTS_PER_CALL]
            try:
                yield self.client.detect_toxic_content(
                    TextSegments=[{"Text": s} for s in batch], LanguageCode=self.language
                )
            except Exception as e:  # noqa: BLE001 - every botocore failure maps to one domain error
                raise map_aws_error(e, "Comprehend DetectToxicContent") from None

    def _classify(self, text: str) -> Iterator[dict]:
        from safegen.core.aws import map_aws_error

        for piece in split_utf8(text, CLASSIFY_BYTES):
            try:
                yield self.client.classify_document(EndpointArn=self.endpoint_arn, Text=piece)
            except Exception as e:  # noqa: BLE001
                raise map_aws_error(e, "Comprehend ClassifyDocument") from None
