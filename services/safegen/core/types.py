"""Domain types shared by text moderation, image moderation, generation and the gateway (no grpc here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Category(str, enum.Enum):
    """Content categories, named as in Bedrock Guardrails' content filters."""

    SEXUAL = "SEXUAL"
    VIOLENCE = "VIOLENCE"
    HATE = "HATE"
    INSULTS = "INSULTS"
    MISCONDUCT = "MISCONDUCT"
    PROMPT_ATTACK = "PROMPT_ATTACK"


#: Every category, in the order responses list them.
CATEGORIES: tuple[Category, ...] = tuple(Category)


class Level(enum.IntEnum):
    """A confidence or a filter strength: NONE < LOW < MEDIUM < HIGH."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @classmethod
    def parse(cls, value: str | "Level") -> "Level":
        if isinstance(value, Level):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(f"{value!r} is not one of NONE, LOW, MEDIUM, HIGH") from None


def intervenes(strength: Level, confidence: Level) -> bool:
    """Bedrock semantics: HIGH strength intervenes at LOW+ confidence, MEDIUM at MEDIUM+, LOW at HIGH, NONE never."""
    if strength == Level.NONE or confidence == Level.NONE:
        return False
    return int(confidence) + int(strength) >= 4


def confidence_for(score: float, thresholds: tuple[float, float, float] | list[float]) -> Level:
    """A score mapped to a confidence by calibrated (low, medium, high) thresholds; below low is NONE."""
    low, medium, high = thresholds
    if score >= high:
        return Level.HIGH
    if score >= medium:
        return Level.MEDIUM
    if score >= low:
        return Level.LOW
    return Level.NONE


class Source(str, enum.Enum):
    """Where content comes from: a user's input or a model's output."""

    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class Modality(str, enum.Enum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"


@dataclass(frozen=True)
class CategoryScore:
    """A detector's score for one category and the confidence its calibrated thresholds give."""

    category: Category
    score: float  # in [0, 1]
    confidence: Level


class WordListKind(str, enum.Enum):
    MANAGED_PROFANITY = "MANAGED_PROFANITY"
    CUSTOM = "CUSTOM"


@dataclass(frozen=True)
class WordMatch:
    """A banned-word match; start/end are code-point offsets into the ORIGINAL text (end exclusive)."""

    match: str
    start: int
    end: int
    word_list: WordListKind
    word: str
    enforced: bool = True  # False: the word's action is NONE (or the guardrail is in SHADOW mode), report only


@dataclass(frozen=True)
class BoundingBox:
    """A region as ratios of the image size, as Rekognition gives it."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class Label:
    """A Rekognition-style moderation label."""

    name: str
    parent_name: str
    confidence: float  # percent, 0-100
    taxonomy_level: int
    category: Category
    box: BoundingBox | None = None
    text: str = ""  # label "Text": the line read there, only when the guardrail reveals image text


@dataclass
class TextAssessment:
    """What a text backend found: one score per category (missing = 0) and word matches."""

    scores: dict[Category, CategoryScore] = field(default_factory=dict)
    words: list[WordMatch] = field(default_factory=list)
    backend: str = "local"


@dataclass(frozen=True)
class TextLine:
    """A line of text read in an image (OCR): the text, the recognizer's mean character probability, its box."""

    text: str
    score: float
    box: BoundingBox


@dataclass
class ImageAssessment:
    """What an image backend found for one image: per-category scores and labels (with boxes)."""

    scores: dict[Category, CategoryScore] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    format: str = ""  # "PNG" or "JPEG"
    width: int = 0
    height: int = 0
    backend: str = "local"
    #: Lines of text read in the image (local OCR); the image moderator sends them through text moderation.
    text_lines: list[TextLine] = field(default_factory=list)


@dataclass(frozen=True)
class FilterVerdict:
    """One content filter's verdict after the guardrail's strength was applied."""

    category: Category
    score: float
    confidence: Level
    strength: Level
    detected: bool
    enforced: bool = True  # False: the filter's action is NONE (or SHADOW mode): a detection is reported, not acted on

    @property
    def intervenes(self) -> bool:
        return self.detected and self.enforced
