"""Guardrail policies in the shape of Bedrock CreateGuardrail, loaded from YAML and applied to assessments.

A guardrail says, per category, how strict the input and the output filters are and which modalities
they cover; which word lists, denied topics and sensitive-information rules apply and what each does
(BLOCK, or NONE to detect only); which safety negative prompts every generation gets; and what the
gateway does with an unsafe prompt or image. Evaluation here is pure: assessments in, verdicts out.
Files may carry `version: N`; the registry (policy/registry.py) serves every version and reloads them.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

import yaml

from safegen.core.types import (
    CATEGORIES,
    Category,
    CategoryScore,
    FilterVerdict,
    Level,
    Modality,
    Source,
    intervenes,
)
from safegen.errors import InvalidArgument
from safegen.policy.actions import FilterAction, GuardrailMode
from safegen.policy.pii import SensitiveRule, parse_sensitive_policy
from safegen.policy.topics import DEFAULT_TOPIC_THRESHOLD, MAX_TOPIC_THRESHOLD, Topic, parse_topic_policy

#: Bedrock's limits on custom words.
MAX_CUSTOM_WORDS = 10_000
MAX_WORD_LENGTH = 100
MAX_VERSION = 99_999_999
#: How a version with no number (a draft) is named in requests and responses, as in Bedrock.
DRAFT = "DRAFT"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class PromptAction(str, enum.Enum):
    BLOCK = "BLOCK"  # answer without generating
    WARN = "WARN"  # generate and warn


class ImageAction(str, enum.Enum):
    BLUR = "BLUR"  # blur the flagged regions (or the whole image)
    BLOCK = "BLOCK"  # withhold the image bytes
    WARN = "WARN"  # return the image with a warning


class BlurMode(str, enum.Enum):
    REGIONS = "REGIONS"  # blur detector regions, fall back to the whole image without regions
    FULL = "FULL"  # always blur the whole image


class GuardrailConfigError(ValueError):
    """A guardrail file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class ContentFilter:
    category: Category
    input_strength: Level = Level.HIGH
    output_strength: Level = Level.HIGH
    input_modalities: frozenset[Modality] = frozenset({Modality.TEXT, Modality.IMAGE})
    output_modalities: frozenset[Modality] = frozenset({Modality.TEXT, Modality.IMAGE})
    input_action: FilterAction = FilterAction.BLOCK
    output_action: FilterAction = FilterAction.BLOCK

    def action(self, source: Source) -> FilterAction:
        return self.input_action if source == Source.INPUT else self.output_action

    def strength(self, source: Source, modality: Modality) -> Level:
        if source == Source.INPUT:
            return self.input_strength if modality in self.input_modalities else Level.NONE
        return self.output_strength if modality in self.output_modalities else Level.NONE


@dataclass(frozen=True)
class Guardrail:
    id: str
    name: str
    description: str = ""
    filters: dict[Category, ContentFilter] = field(default_factory=dict)
    managed_profanity: bool = True
    custom_words: tuple[str, ...] = ()
    negative_prompts: tuple[str, ...] = ()
    unsafe_prompt_action: PromptAction = PromptAction.BLOCK
    unsafe_image_action: ImageAction = ImageAction.BLUR
    blur_mode: BlurMode = BlurMode.REGIONS
    max_regenerations: int = 2
    blocked_input_message: str = "Sorry, this prompt can't be used."
    blocked_output_message: str = "Sorry, the generated image was withheld."
    #: Image categories a backend must cover (safegen.image.backends.coverage) for this guardrail's images.
    require_image_coverage: frozenset[Category] = frozenset()
    #: Whether image verdicts may carry the text read in the image (the `Text` labels' `text`).
    reveal_image_text: bool = False
    version: int = 0  # 0: a draft (a file without `version`), named DRAFT
    digest: str = ""  # SHA-256 of the file's content: a numbered version whose digest changes is refused
    path: str = ""  # the file it came from
    mode: GuardrailMode = GuardrailMode.ENFORCE
    # (input, output) actions of the managed list and of each custom word (aligned with custom_words);
    # None means disabled for that source (Bedrock's inputEnabled/outputEnabled: false).
    managed_actions: tuple[FilterAction | None, FilterAction | None] = (FilterAction.BLOCK, FilterAction.BLOCK)
    custom_word_actions: tuple[tuple[FilterAction | None, FilterAction | None], ...] = ()
    topics: tuple[Topic, ...] = ()
    topic_threshold: float = DEFAULT_TOPIC_THRESHOLD
    sensitive: tuple[SensitiveRule, ...] = ()
    # What services compute once per loaded guardrail (e.g. the embedded topics), filled by the
    # registry's preparers before the guardrail serves. Not part of the guardrail's identity.
    prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def version_name(self) -> str:
        return str(self.version) if self.version else DRAFT

    @property
    def shadow(self) -> bool:
        return self.mode == GuardrailMode.SHADOW

    def enforces(self, action: Any) -> bool:
        """Whether a policy with this action intervenes when it detects something (never in SHADOW mode)."""
        return action is not None and getattr(action, "value", action) != "NONE" and not self.shadow

    def strength(self, category: Category, source: Source, modality: Modality) -> Level:
        f = self.filters.get(category)
        return f.strength(source, modality) if f else Level.NONE

    def managed_action(self, source: Source) -> FilterAction | None:
        return self.managed_actions[0 if source == Source.INPUT else 1] if self.managed_profanity else None

    def custom_words_by_action(self, source: Source) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(words that block, words that are detect-only) for this source; disabled words are in neither."""
        k = 0 if source == Source.INPUT else 1
        actions = self.custom_word_actions or ((FilterAction.BLOCK, FilterAction.BLOCK),) * len(self.custom_words)
        block = tuple(w for w, a in zip(self.custom_words, actions) if a[k] == FilterAction.BLOCK)
        detect = tuple(w for w, a in zip(self.custom_words, actions) if a[k] == FilterAction.NONE)
        return block, detect

    def tightened(self, overrides: Mapping[Category, tuple[Level | None, Level | None]]) -> "Guardrail":
        """This guardrail with stricter strengths for one request; a looser strength is INVALID_ARGUMENT.

        `overrides` maps a category to (input strength, output strength); None keeps the guardrail's.
        """
        if not overrides:
            return self
        filters = dict(self.filters)
        for cat, (inp, out) in overrides.items():
            f = filters.get(cat) or ContentFilter(cat, Level.NONE, Level.NONE)
            for label, new, old in (("input", inp, f.input_strength), ("output", out, f.output_strength)):
                if new is not None and new < old:
                    raise InvalidArgument(
                        f"tighten_filters: {cat.value} {label} strength {new.name} is looser than guardrail "
                        f"'{self.id}' version {self.version_name}'s {old.name}; a request may only make a filter stricter"
                    )
            if out is not None and out > Level.NONE and cat == Category.PROMPT_ATTACK:
                raise InvalidArgument(
                    "tighten_filters: PROMPT_ATTACK applies to input only; leave its output strength unset"
                )
            filters[cat] = replace(
                f,
                input_strength=inp if inp is not None else f.input_strength,
                output_strength=out if out is not None else f.output_strength,
            )
        return replace(self, filters=filters)

    def evaluate(
        self,
        scores: dict[Category, CategoryScore],
        source: Source,
        modality: Modality,
        categories: Iterable[Category] = CATEGORIES,
    ) -> list[FilterVerdict]:
        """One verdict per category: the detector's confidence against this guardrail's strength."""
        verdicts = []
        for cat in categories:
            s = scores.get(cat) or CategoryScore(cat, 0.0, Level.NONE)
            strength = self.strength(cat, source, modality)
            f = self.filters.get(cat)
            enforced = self.enforces(f.action(source)) if f else not self.shadow
            verdicts.append(
                FilterVerdict(cat, float(s.score), s.confidence, strength, intervenes(strength, s.confidence), enforced)
            )
        return verdicts

    @property
    def negative_prompt(self) -> str:
        return ", ".join(self.negative_prompts)

    def merge_negative_prompt(self, caller: str) -> str:
        """The caller's negative prompt followed by the safety negative prompts it does not already contain."""
        caller = (caller or "").strip()
        have = {p.strip().lower() for p in caller.split(",") if p.strip()}
        extra = [p for p in self.negative_prompts if p.strip().lower() not in have]
        return ", ".join([caller] + extra if caller else extra)


E = TypeVar("E", bound=enum.Enum)


def _enum(kind: type[E], value: Any, where: str) -> E:
    try:
        return kind(str(value).strip().upper())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise GuardrailConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _level(value: Any, where: str) -> Level:
    try:
        return Level.parse(value)
    except ValueError as e:
        raise GuardrailConfigError(f"{where}: {e}") from None


def _modalities(value: Any, where: str) -> frozenset[Modality]:
    if value is None:
        return frozenset({Modality.TEXT, Modality.IMAGE})
    if not isinstance(value, list):
        raise GuardrailConfigError(f"{where}: expected a list of TEXT/IMAGE")
    return frozenset(_enum(Modality, v, where) for v in value)


_TOP_KEYS = {
    "id",
    "name",
    "description",
    "contentPolicyConfig",
    "wordPolicyConfig",
    "blockedInputMessaging",
    "blockedOutputsMessaging",
    "safegen",
    "version",
    "topicPolicyConfig",
    "sensitiveInformationPolicyConfig",
}
_SAFEGEN_KEYS = {
    "negativePrompts",
    "unsafePromptAction",
    "unsafeImageAction",
    "blurMode",
    "maxRegenerations",
    "requireImageCoverage",
    "revealImageText",
    "mode",
    "topicThreshold",
}
_FILTER_KEYS = {
    "type",
    "inputStrength",
    "outputStrength",
    "inputModalities",
    "outputModalities",
    "inputAction",
    "outputAction",
}
_WORD_KEYS = {"text", "inputAction", "outputAction", "inputEnabled", "outputEnabled"}
_MANAGED_KEYS = {"type", "inputAction", "outputAction", "inputEnabled", "outputEnabled"}


def _actions(cfg: dict[str, Any], where: str) -> tuple[FilterAction | None, FilterAction | None]:
    """Bedrock's inputAction/outputAction (BLOCK or NONE, default BLOCK) and inputEnabled/outputEnabled."""
    out = []
    for side in ("input", "output"):
        enabled = cfg.get(f"{side}Enabled", True)
        if not isinstance(enabled, bool):
            raise GuardrailConfigError(f"{where}.{side}Enabled: expected true or false")
        action = _enum(FilterAction, cfg.get(f"{side}Action", "BLOCK"), f"{where}.{side}Action")
        out.append(action if enabled else None)
    return out[0], out[1]


def _version(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise GuardrailConfigError(f"{where}: version must be a positive integer (1-{MAX_VERSION}); got {value!r}")
    return value


def _check_keys(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise GuardrailConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _interpolate(value: Any) -> Any:
    """Expands ${VAR} and ${VAR:default} in strings, so one file serves several environments."""
    if isinstance(value, str):
        return re.sub(
            r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}",
            lambda m: os.environ.get(m.group(1), m.group(2) or ""),
            value,
        )
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def parse_guardrail(doc: dict[str, Any], where: str, default_id: str) -> Guardrail:
    """Builds a Guardrail from a CreateGuardrail-shaped document, rejecting unknown keys and values."""
    if not isinstance(doc, dict):
        raise GuardrailConfigError(f"{where}: expected a mapping at the top level")
    doc = _interpolate(doc)
    _check_keys(doc, _TOP_KEYS, where)
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    version = _version(doc.get("version"), f"{where}: version")
    gid = str(doc.get("id") or default_id)
    if not _ID_RE.match(gid):
        raise GuardrailConfigError(f"{where}: id {gid!r} must match {_ID_RE.pattern}")
    filters: dict[Category, ContentFilter] = {}
    cp = doc.get("contentPolicyConfig") or {}
    _check_keys(cp, {"filtersConfig"}, f"{where}: contentPolicyConfig")
    for i, f in enumerate(cp.get("filtersConfig") or []):
        w = f"{where}: contentPolicyConfig.filtersConfig[{i}]"
        if not isinstance(f, dict):
            raise GuardrailConfigError(f"{w}: expected a mapping")
        _check_keys(f, _FILTER_KEYS, w)
        cat = _enum(Category, f.get("type"), f"{w}.type")
        if cat in filters:
            raise GuardrailConfigError(f"{w}: category {cat.value} configured twice")
        out = _level(f.get("outputStrength", "NONE"), f"{w}.outputStrength")
        if cat == Category.PROMPT_ATTACK and out != Level.NONE:
            raise GuardrailConfigError(f"{w}: PROMPT_ATTACK applies to input only; outputStrength must be NONE")
        filters[cat] = ContentFilter(
            cat,
            _level(f.get("inputStrength", "NONE"), f"{w}.inputStrength"),
            out,
            _modalities(f.get("inputModalities"), f"{w}.inputModalities"),
            _modalities(f.get("outputModalities"), f"{w}.outputModalities"),
            _enum(FilterAction, f.get("inputAction", "BLOCK"), f"{w}.inputAction"),
            _enum(FilterAction, f.get("outputAction", "BLOCK"), f"{w}.outputAction"),
        )
    wp = doc.get("wordPolicyConfig") or {}
    _check_keys(wp, {"managedWordListsConfig", "wordsConfig"}, f"{where}: wordPolicyConfig")
    managed = False
    managed_actions: tuple[FilterAction | None, FilterAction | None] = (FilterAction.BLOCK, FilterAction.BLOCK)
    for i, m in enumerate(wp.get("managedWordListsConfig") or []):
        w = f"{where}: wordPolicyConfig.managedWordListsConfig[{i}]"
        _check_keys(m or {}, _MANAGED_KEYS, w)
        if _enum(_ManagedList, (m or {}).get("type"), f"{w}.type"):
            managed = True
            managed_actions = _actions(m, w)
    words, word_actions = [], []
    for i, wcfg in enumerate(wp.get("wordsConfig") or []):
        w = f"{where}: wordPolicyConfig.wordsConfig[{i}]"
        _check_keys(wcfg or {}, _WORD_KEYS, w)
        text = str((wcfg or {}).get("text", "")).strip()
        if not text or len(text) > MAX_WORD_LENGTH:
            raise GuardrailConfigError(
                f"{where}: wordPolicyConfig.wordsConfig[{i}].text must be 1-{MAX_WORD_LENGTH} characters"
            )
        words.append(text)
        word_actions.append(_actions(wcfg, w))
    if len(words) > MAX_CUSTOM_WORDS:
        raise GuardrailConfigError(f"{where}: {len(words)} custom words; at most {MAX_CUSTOM_WORDS}")
    sg = doc.get("safegen") or {}
    _check_keys(sg, _SAFEGEN_KEYS, f"{where}: safegen")
    regen = sg.get("maxRegenerations", 2)
    if not isinstance(regen, int) or not 0 <= regen <= 5:
        raise GuardrailConfigError(f"{where}: safegen.maxRegenerations must be an integer from 0 to 5")
    negs = sg.get("negativePrompts") or []
    if not isinstance(negs, list) or not all(isinstance(n, str) and n.strip() for n in negs):
        raise GuardrailConfigError(f"{where}: safegen.negativePrompts must be a list of non-empty strings")
    need = sg.get("requireImageCoverage") or []
    if not isinstance(need, list):
        raise GuardrailConfigError(f"{where}: safegen.requireImageCoverage must be a list of categories")
    need_cats = frozenset(_enum(Category, c, f"{where}: safegen.requireImageCoverage") for c in need)
    if Category.PROMPT_ATTACK in need_cats:
        raise GuardrailConfigError(f"{where}: safegen.requireImageCoverage: PROMPT_ATTACK does not apply to images")
    reveal = sg.get("revealImageText", False)
    if not isinstance(reveal, bool):
        raise GuardrailConfigError(f"{where}: safegen.revealImageText must be true or false")
    threshold = sg.get("topicThreshold", DEFAULT_TOPIC_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not 0.0 < threshold <= MAX_TOPIC_THRESHOLD
    ):
        raise GuardrailConfigError(
            f"{where}: safegen.topicThreshold must be a number in (0, {MAX_TOPIC_THRESHOLD:g}]; got {threshold!r}"
        )
    try:
        topics = parse_topic_policy(doc.get("topicPolicyConfig"), "topicPolicyConfig")
        sensitive = parse_sensitive_policy(
            doc.get("sensitiveInformationPolicyConfig"), "sensitiveInformationPolicyConfig"
        )
    except ValueError as e:
        raise GuardrailConfigError(f"{where}: {e}") from None
    return Guardrail(
        id=gid,
        name=str(doc.get("name") or gid),
        description=str(doc.get("description") or ""),
        filters=filters,
        managed_profanity=managed,
        custom_words=tuple(words),
        negative_prompts=tuple(n.strip() for n in negs),
        unsafe_prompt_action=_enum(
            PromptAction, sg.get("unsafePromptAction", "BLOCK"), f"{where}: safegen.unsafePromptAction"
        ),
        unsafe_image_action=_enum(
            ImageAction, sg.get("unsafeImageAction", "BLUR"), f"{where}: safegen.unsafeImageAction"
        ),
        blur_mode=_enum(BlurMode, sg.get("blurMode", "REGIONS"), f"{where}: safegen.blurMode"),
        max_regenerations=regen,
        blocked_input_message=str(doc.get("blockedInputMessaging") or Guardrail.blocked_input_message),
        blocked_output_message=str(doc.get("blockedOutputsMessaging") or Guardrail.blocked_output_message),
        require_image_coverage=need_cats,
        reveal_image_text=reveal,
        version=version,
        digest=digest,
        path=where,
        mode=_enum(GuardrailMode, sg.get("mode", "ENFORCE"), f"{where}: safegen.mode"),
        managed_actions=managed_actions,
        custom_word_actions=tuple(word_actions),
        topics=topics,
        topic_threshold=float(threshold),
        sensitive=sensitive,
    )


class _ManagedList(str, enum.Enum):
    PROFANITY = "PROFANITY"


def load_guardrail_file(path: Path) -> Guardrail:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise GuardrailConfigError(f"{path}: cannot read guardrail: {e}") from None
    return parse_guardrail(doc, str(path), path.stem)


def builtin_guardrail_files() -> list[Path]:
    root = resources.files("safegen.policy") / "guardrails"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith((".yaml", ".yml")))
