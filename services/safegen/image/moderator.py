"""ImageModerator: validates a request against the limits, runs the detector, checks text read in images, applies the guardrail (no grpc)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

from prometheus_client import Counter, Histogram

from safegen.core.types import (
    CATEGORIES,
    Category,
    CategoryScore,
    FilterVerdict,
    Label,
    Level,
    Modality,
    Source,
    TextLine,
    intervenes,
)
from safegen.errors import FailedPrecondition
from safegen.image.backends.base import ImageDetector
from safegen.image.backends.coverage import Coverage, coverage_of
from safegen.image.limits import MB
from safegen.image.limits import (
    DecodeBudget,
    ImageLimits,
    RateLimiter,
    ValidImage,
    check_count,
    check_header,
    decode_within,
)
from safegen.policy import Guardrail, GuardrailRegistry

#: Categories that apply to images, in Category order (prompt attacks are text-only).
IMAGE_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c != Category.PROMPT_ATTACK)

DETECT_SECONDS = Histogram(
    "safegen_image_detect_seconds",
    "Detector time per image (decode excluded)",
    ["backend"],
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
)
REJECTED = Counter("safegen_image_rejected_total", "Image requests refused by an input limit", ["reason"])
TEXT_SECONDS = Histogram(
    "safegen_image_text_check_seconds",
    "Text moderation of the text read in one image (images with text only)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32),
)
#: Bedrock reads up to 100 words of an image's text; so do we (a poster of small print stays bounded).
MAX_IMAGE_WORDS = 100


class TextChecker(Protocol):
    """What the image moderator needs from text moderation (safegen.text.moderator.TextModerator)."""

    def moderate(self, text: str, source: Source = Source.INPUT, guardrail_id: str = ""): ...


def text_checker_for(detector: ImageDetector, registry: GuardrailRegistry, env=None) -> TextChecker | None:
    """The prompt text moderation (SAFEGEN_TEXT_* settings) when the detector reads text (local OCR), else None.
    Every builder of an ImageModerator over the local backend passes this as `text`, or image text goes unjudged."""
    if "ocr" not in getattr(detector, "detectors", ()):
        return None
    from safegen.text.backends import build_backend
    from safegen.text.moderator import TextModerator
    from safegen.text.settings import TextSettings

    return TextModerator(registry, build_backend(TextSettings.from_env(env), env))


@dataclass(frozen=True)
class ImageVerdict:
    """The guardrail's verdict on one image."""

    index: int
    intervened: bool
    filters: list[FilterVerdict]
    labels: list[Label]
    format: str
    width: int
    height: int
    backend: str = ""
    #: Per image category, whether the backend that judged this image looks for it (same for a whole request).
    coverage: tuple[Coverage, ...] = ()
    guardrail_id: str = ""
    guardrail_version: str = ""
    detected: bool = False  # any filter detected, enforced or not: what the guardrail would have done


class ImageModerator:
    """Validates a whole request against the limits, runs the detector, checks image text, applies the guardrail.

    `text` moderates the lines the detector read (local OCR) exactly as prompts are moderated (word lists
    and categories), judged with the guardrail's IMAGE strengths. `managed` is the backend that takes the
    images of guardrails requiring coverage the detector lacks (safegen.requireImageCoverage)."""

    def __init__(
        self,
        detector: ImageDetector,
        registry: GuardrailRegistry,
        limits: ImageLimits | None = None,
        min_confidence: float = 0.0,
        rate_limiter: RateLimiter | None = None,
        text: TextChecker | None = None,
        managed: ImageDetector | None = None,
        text_min_confidence: Level = Level.MEDIUM,
    ):
        self.detector = detector
        self.registry = registry
        self.limits = limits or ImageLimits()
        self.min_confidence = min_confidence
        self.rate = rate_limiter or self._new_rate("per process")
        self._rates: dict[str, RateLimiter] = {}  # caller id -> its own image budget
        self.decode_budget = DecodeBudget(self.limits.decode_budget_mb * MB, self.limits.decode_wait_s)
        self.text = text
        self.text_min_confidence = text_min_confidence
        self.managed = managed
        self.coverage = tuple(coverage_of(detector))
        self.managed_coverage = tuple(coverage_of(managed)) if managed is not None else ()

    def _new_rate(self, scope: str) -> RateLimiter:
        return RateLimiter(
            self.limits.rate_per_s, capacity=max(self.limits.rate_per_s, self.limits.max_images), scope=scope
        )

    def _rate_for(self, caller: str | None) -> RateLimiter | None:
        if caller is None:
            return None  # this process's own gateway: its images were paid for by the request that made them
        if caller == "":
            return self.rate
        rate = self._rates.get(caller)
        if rate is None:
            rate = self._rates.setdefault(caller, self._new_rate(f"for API key {caller!r}"))
        return rate

    @property
    def backend(self) -> str:
        return self.detector.name

    def route(self, guardrail: Guardrail) -> tuple[ImageDetector, tuple[Coverage, ...]]:
        """The detector for this guardrail's images: ours, or the managed one when the guardrail requires
        coverage ours lacks; FAILED_PRECONDITION naming the categories when neither covers them."""
        need = guardrail.require_image_coverage
        missing = [c for c in self.coverage if c.category in need and not c.covered]
        if not missing:
            return self.detector, self.coverage
        if self.managed is not None and all(c.covered for c in self.managed_coverage if c.category in need):
            return self.managed, self.managed_coverage
        what = "; ".join(f"{c.category.value} (not detected: {c.gaps})" for c in missing)
        raise FailedPrecondition(
            f"guardrail {guardrail.id!r} requires image coverage of {', '.join(c.category.value for c in missing)}, "
            f"which the {self.detector.name} image backend does not cover: {what}. Configure "
            f"SAFEGEN_IMAGE_COVERAGE_BACKEND=rekognition or bedrock, or remove the category from "
            f"safegen.requireImageCoverage"
        )

    def resolve(self, guardrail: str | Guardrail = "", version: str = "", tighten=None) -> Guardrail:
        """The guardrail a request names (NOT_FOUND lists the known ones), tightened for this call if asked.
        Callers resolve once and pass the object on, so a reload cannot change it between the stages."""
        g = guardrail if isinstance(guardrail, Guardrail) else self.registry.get(guardrail, version)
        return g.tightened(tighten) if tighten else g

    def admit(
        self, images: Sequence[bytes], guardrail: str | Guardrail = "", caller: str | None = None
    ) -> list[ValidImage]:
        """The cheap checks, before the request waits for a worker: guardrail, count, the caller's image
        rate, and every header (format, bytes, dimensions) without decoding a pixel.

        `caller`: "" the shared budget (outside callers without API keys), a key id its own budget, None
        not charged: in-process callers (the gateway moderating what it generated, the dataset scanner)."""
        self.route(self.resolve(guardrail))  # NOT_FOUND, or FAILED_PRECONDITION (coverage), before any work
        try:
            check_count(images, self.limits)
            rate = self._rate_for(caller)
            if rate is not None:
                rate.acquire(len(images))
            return [check_header(i, data, self.limits) for i, data in enumerate(images)]
        except Exception as e:
            REJECTED.labels(type(e).__name__).inc()
            raise

    def moderate(
        self,
        images: Sequence[bytes],
        source: Source = Source.OUTPUT,
        guardrail_id: str = "",
        caller: str | None = None,
        guardrail_version: str = "",
        tighten=None,
    ) -> list[ImageVerdict]:
        guardrail = self.resolve(guardrail_id, guardrail_version, tighten)
        return self.judge(self.admit(images, guardrail, caller), source, guardrail)

    def judge(
        self, valid: list[ValidImage], source: Source = Source.OUTPUT, guardrail: str | Guardrail = ""
    ) -> list[ImageVerdict]:
        """Decodes (within the process's decode budget), runs the detector and applies the guardrail."""
        guardrail = self.resolve(guardrail)
        detector, coverage = self.route(guardrail)
        if getattr(detector, "needs_decoded", True):
            try:
                for v in valid:  # every image decodes before any detector runs: corrupt data fails the whole request
                    v.working = decode_within(v, self.decode_budget)
            except Exception as e:
                REJECTED.labels(type(e).__name__).inc()
                raise
        t0 = time.perf_counter()
        assess_for = getattr(detector, "assess_for", None)
        if assess_for is not None:  # the local models: skip those whose categories this guardrail ignores
            needed = frozenset(
                c for c in IMAGE_CATEGORIES if guardrail.strength(c, source, Modality.IMAGE) > Level.NONE
            )
            assessments = assess_for(valid, source, needed, self.text is not None and reads_text(guardrail, source))
        else:
            assessments = detector.assess(valid, source)
        DETECT_SECONDS.labels(detector.name).observe((time.perf_counter() - t0) / max(1, len(valid)))
        verdicts = []
        for v, a in zip(valid, assessments, strict=True):
            scores, extra = dict(a.scores), []
            words_hit = False
            if a.text_lines and self.text is not None:
                t1 = time.perf_counter()
                text_scores, extra, words_hit = self._check_text(a.text_lines, source, guardrail)
                TEXT_SECONDS.observe(time.perf_counter() - t1)
                for cat, sc in text_scores.items():
                    cur = scores.get(cat)
                    if cur is None or (sc.confidence, sc.score) > (cur.confidence, cur.score):
                        scores[cat] = sc
            filters = guardrail.evaluate(scores, source, Modality.IMAGE, IMAGE_CATEGORIES)
            detected = {f.category for f in filters if f.intervenes}  # detect-only filters never act
            labels = [
                lb
                for lb in list(a.labels) + extra
                if lb.confidence >= self.min_confidence or lb.category in detected or lb.name == "Text"
            ]
            boxed = {lb.category for lb in labels if lb.box is not None}
            text_outside = any(lb.name == "Text" and lb.category not in detected for lb in extra)
            if (detected - boxed and boxed & detected) or (text_outside and detected):
                # Regions are only useful if they cover everything that intervened: a caller blurring the
                # regions of SEXUAL would otherwise leave an unlocalized VIOLENCE verdict (or a line that
                # intervened by a banned word alone) unblurred.
                labels = [replace(lb, box=None) for lb in labels]
            verdicts.append(
                ImageVerdict(
                    v.index,
                    bool(detected) or words_hit,
                    filters,
                    labels,
                    v.format,
                    v.width,
                    v.height,
                    detector.name,
                    coverage,
                    guardrail.id,
                    guardrail.version_name,
                    any(f.detected for f in filters) or words_hit,
                )
            )
        return verdicts

    def _check_text(self, lines: list[TextLine], source: Source, guardrail: Guardrail):
        """Moderates the text read in one image: all of it (the verdict, with context across lines), then each
        line when it intervened, so only the offending lines are labelled (and blurred). Text classifier
        confidences below `text_min_confidence` count as NONE (banned words always count). Returns the
        per-category scores, `Text` labels for the offending lines, and whether a banned word matched."""
        kept, n = [], 0
        for ln in lines:  # the first MAX_IMAGE_WORDS words, in reading order
            words = ln.text.split()
            if n >= MAX_IMAGE_WORDS or not words:
                break
            kept.append(replace(ln, text=" ".join(words[: MAX_IMAGE_WORDS - n])))
            n += len(words)
        if not kept:
            return {}, [], False
        whole = self._text_verdict("\n".join(ln.text for ln in kept), source, guardrail)
        floor = self.text_min_confidence

        def level(f: FilterVerdict) -> Level:
            return f.confidence if f.confidence >= floor else Level.NONE

        def hits(verdict) -> list[Category]:
            """The image categories this text verdict makes intervene under the IMAGE strengths, strongest first."""
            fs = [
                f
                for f in verdict.filters
                if f.category in IMAGE_CATEGORIES
                and intervenes(guardrail.strength(f.category, source, Modality.IMAGE), level(f))
            ]
            return [f.category for f in sorted(fs, key=lambda f: (f.confidence, f.score), reverse=True)]

        # The verdict comes from the whole text, as a prompt's would; lines only localize it.
        scores = {
            f.category: CategoryScore(f.category, round(float(f.score), 4), level(f))
            for f in whole.filters
            if f.category in IMAGE_CATEGORIES
        }
        whole_hits = hits(whole)
        if not whole_hits and not _acting(whole.words):
            return scores, [], False
        per_line = [whole] if len(kept) == 1 else [self._text_verdict(ln.text, source, guardrail) for ln in kept]
        line_cats = [[c for c in hits(v) if c in whole_hits] for v in per_line]
        found = {c for cs in line_cats for c in cs}
        spread = [c for c in whole_hits if c not in found]  # only the lines together say it: label them all
        labels: list[Label] = []
        for ln, v, cats in zip(kept, per_line, line_cats, strict=True):
            cats = cats + spread
            if not cats and _acting(
                v.words
            ):  # a banned word alone: the line's strongest category, even below thresholds
                cats = [max((f for f in v.filters if f.category in IMAGE_CATEGORIES), key=lambda f: f.score).category]
            # One label per line and intervening category, so every category's regions are complete.
            labels.extend(
                Label(
                    "Text",
                    "",
                    round(100.0 * ln.score, 2),
                    1,
                    cat,
                    ln.box,
                    ln.text if guardrail.reveal_image_text else "",
                )
                for cat in cats
            )
        return scores, labels, bool(_acting(whole.words))

    def _text_verdict(self, text: str, source: Source, guardrail: Guardrail):
        """The text moderator's verdict under this exact (resolved, maybe tightened) guardrail."""
        with_guardrail = getattr(self.text, "moderate_with", None)
        if with_guardrail is not None:
            return with_guardrail(guardrail, text, source)
        return self.text.moderate(text, source, guardrail.id)


def reads_text(guardrail: Guardrail, source: Source) -> bool:
    """Whether text read in an image can change this guardrail's verdict: some image category has a strength,
    or a word list is on for this source. Otherwise the OCR is not run at all."""
    if any(guardrail.strength(c, source, Modality.IMAGE) > Level.NONE for c in IMAGE_CATEGORIES):
        return True
    block, detect = guardrail.custom_words_by_action(source)
    return guardrail.managed_action(source) is not None or bool(block or detect)


def _acting(words) -> list:
    """The banned-word matches that act (a detect-only word, or SHADOW mode, only reports)."""
    return [w for w in words if getattr(w, "enforced", True)]
