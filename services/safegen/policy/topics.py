"""Denied topics (Bedrock's topicPolicyConfig): parsed from a guardrail file, embedded once, matched by cosine similarity.

A topic is its definition plus up to five example phrases. At load each of them is embedded with the
shipped text encoder (policy/encoder.py); a text is on the topic when its similarity to one of them
is far above what ordinary prompts reach (standardized per phrase with shipped background statistics).
The threshold is calibrated (bench/bench_topics.py) so ordinary image prompts stay unflagged; a
guardrail may set its own with `safegen.topicThreshold`.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from safegen.policy.encoder import TextEncoder

from safegen.policy.actions import FilterAction

#: Bedrock's limits on denied topics.
MAX_TOPICS = 30
MAX_NAME = 100
MAX_DEFINITION = 200
MAX_EXAMPLES = 5
MAX_EXAMPLE = 100
_NAME_RE = re.compile(r"^[0-9a-zA-Z_ !?.-]+$")

#: A topic's score is how far (in standard deviations) a text's similarity to the topic's phrases lies
#: above ordinary prompts' similarity to them; at this score a text is on the topic. Calibrated with
#: bench/bench_topics.py on held-out SD Discord prompts and COCO captions (numbers in docs/guardrails.md).
DEFAULT_TOPIC_THRESHOLD = 4.5
MAX_TOPIC_THRESHOLD = 50.0
#: Plain cosine similarity used instead when the background statistics do not fit the encoder.
FALLBACK_COSINE_THRESHOLD = 0.5
#: Mean and covariance of ordinary prompts' embeddings (aggregate statistics only, no prompt text),
#: written by `python bench/bench_topics.py --write-background`, plus a probe to check the encoder.
BACKGROUND_FILE = Path(__file__).resolve().parent / "data" / "topic_background.npz"
PROBE_TEXT = "a photo of a red bicycle leaning against a brick wall"

log = logging.getLogger("safegen.policy")


class TopicConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    """A denied topic; an action of None means the topic is disabled for that source."""

    name: str
    definition: str
    examples: tuple[str, ...] = ()
    input_action: FilterAction | None = FilterAction.BLOCK
    output_action: FilterAction | None = FilterAction.BLOCK

    def action(self, output: bool) -> FilterAction | None:
        return self.output_action if output else self.input_action


@dataclass(frozen=True)
class TopicMatch:
    """A topic's verdict on one text: the best similarity and whether it reaches the threshold."""

    name: str
    score: float
    detected: bool
    action: FilterAction  # the topic's configured action for this source


def _text(value: Any, limit: int, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise TopicConfigError(f"{where}: a string of 1-{limit} characters is required")
    return value.strip()


def _action(cfg: dict[str, Any], key: str, where: str) -> FilterAction | None:
    enabled_key = key.replace("Action", "Enabled")
    if enabled_key in cfg and not isinstance(cfg[enabled_key], bool):
        raise TopicConfigError(f"{where}.{enabled_key}: expected true or false")
    if not cfg.get(enabled_key, True):
        return None
    raw = cfg.get(key, "BLOCK")
    try:
        return FilterAction(str(raw).strip().upper())
    except ValueError:
        raise TopicConfigError(f"{where}.{key}: {raw!r} is not one of BLOCK, NONE") from None


def parse_topic_policy(cfg: Any, where: str) -> tuple[Topic, ...]:
    """topicPolicyConfig -> topics; raises TopicConfigError naming the key (the caller adds the file)."""
    if not cfg:
        return ()
    if not isinstance(cfg, dict) or set(cfg) - {"topicsConfig"}:
        raise TopicConfigError(f"{where}: expected a mapping with topicsConfig only")
    items = cfg.get("topicsConfig") or []
    if not isinstance(items, list):
        raise TopicConfigError(f"{where}.topicsConfig: expected a list")
    if len(items) > MAX_TOPICS:
        raise TopicConfigError(f"{where}.topicsConfig: {len(items)} topics; at most {MAX_TOPICS}")
    topics, names = [], set()
    allowed = {"name", "definition", "examples", "type", "inputAction", "outputAction", "inputEnabled", "outputEnabled"}
    for i, t in enumerate(items):
        w = f"{where}.topicsConfig[{i}]"
        if not isinstance(t, dict):
            raise TopicConfigError(f"{w}: expected a mapping")
        unknown = sorted(set(t) - allowed)
        if unknown:
            raise TopicConfigError(f"{w}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        name = _text(t.get("name"), MAX_NAME, f"{w}.name")
        if not _NAME_RE.match(name):
            raise TopicConfigError(f"{w}.name: {name!r} may hold letters, digits, spaces and _ - ! ? . only")
        if name.lower() in names:
            raise TopicConfigError(f"{w}.name: {name!r} configured twice")
        names.add(name.lower())
        if str(t.get("type", "DENY")).strip().upper() != "DENY":
            raise TopicConfigError(f"{w}.type: {t.get('type')!r} is not DENY (the only topic type)")
        examples = t.get("examples") or []
        if not isinstance(examples, list) or len(examples) > MAX_EXAMPLES:
            raise TopicConfigError(f"{w}.examples: a list of at most {MAX_EXAMPLES} phrases is required")
        topics.append(
            Topic(
                name,
                _text(t.get("definition"), MAX_DEFINITION, f"{w}.definition"),
                tuple(_text(e, MAX_EXAMPLE, f"{w}.examples[{j}]") for j, e in enumerate(examples)),
                _action(t, "inputAction", w),
                _action(t, "outputAction", w),
            )
        )
    return tuple(topics)


@dataclass(frozen=True)
class Background:
    """How ordinary prompts' embeddings are distributed: a phrase's mean similarity to them is mean @ p,
    its variance p @ cov @ p."""

    mean: np.ndarray
    cov: np.ndarray
    probe: np.ndarray


@lru_cache(maxsize=1)
def load_background(path: str = str(BACKGROUND_FILE)) -> Background | None:
    try:
        z = np.load(path)
        return Background(z["mean"].astype(np.float32), z["cov"].astype(np.float32), z["probe"].astype(np.float32))
    except (OSError, KeyError, ValueError):
        return None


# Per encoder object (weakly held, so a discarded encoder takes its entries with it).
_checked: "weakref.WeakKeyDictionary[Any, Background | None]" = weakref.WeakKeyDictionary()
_phrases: "weakref.WeakKeyDictionary[Any, dict[str, np.ndarray]]" = weakref.WeakKeyDictionary()
_MAX_CACHED_PHRASES = 4096


def embed_phrases(encoder: TextEncoder, phrases: list[str]) -> np.ndarray:
    """Embeddings of topic phrases, each computed once per encoder: a reload that bumps a version without
    touching its topics (the usual change) embeds nothing."""
    cache = _phrases.setdefault(encoder, {})
    missing = [p for p in dict.fromkeys(phrases) if p not in cache]
    if missing:
        if len(cache) + len(missing) > _MAX_CACHED_PHRASES:
            cache.clear()
        for p, e in zip(missing, np.asarray(encoder.embed(missing), dtype=np.float32)):
            cache[p] = e
    return np.stack([cache[p] for p in phrases]) if phrases else np.zeros((0, 1), np.float32)


def background_for(encoder: TextEncoder) -> Background | None:
    """The shipped background statistics if they were computed with this encoder (probe check), else None."""
    if encoder not in _checked:
        _checked[encoder] = _background_for(encoder)
    return _checked[encoder]


def _background_for(encoder: TextEncoder) -> Background | None:
    bg = load_background()
    if bg is None:
        log.warning("no topic background statistics (%s): denied topics use plain cosine similarity", BACKGROUND_FILE)
        return None
    probe = np.asarray(encoder.embed([PROBE_TEXT])[0], dtype=np.float32)
    if probe.shape != bg.probe.shape or float(probe @ bg.probe) < 0.98:
        log.warning(
            "topic background statistics were computed with another text encoder: denied topics use "
            "plain cosine similarity at %.2f; rerun `python bench/bench_topics.py --write-background`",
            FALLBACK_COSINE_THRESHOLD,
        )
        return None
    return bg


class TopicIndex:
    """The embedded definitions and examples of one guardrail's topics (built once, at load; immutable)."""

    def __init__(
        self,
        topics: Sequence[Topic],
        encoder: TextEncoder,
        threshold: float | None = None,
        background: Background | None | bool = True,
    ):
        self.topics = tuple(topics)
        phrases, owners = [], []
        for k, t in enumerate(self.topics):
            for p in (t.definition, *t.examples):
                phrases.append(p)
                owners.append(k)
        self._owners = np.asarray(owners, dtype=np.int64)
        self._emb = embed_phrases(encoder, phrases)
        bg = background_for(encoder) if background is True else (background or None)
        if bg is not None:
            # Per phrase: ordinary prompts' mean similarity and its spread, so a phrase every portrait
            # resembles ("portrait of a politician") needs more than one only topical texts resemble.
            self._mu = self._emb @ bg.mean
            self._sd = np.sqrt(np.clip(np.einsum("pd,de,pe->p", self._emb, bg.cov, self._emb), 1e-8, None))
            self.threshold = DEFAULT_TOPIC_THRESHOLD if threshold is None else threshold
        else:
            self._mu = np.zeros(len(phrases), dtype=np.float32)
            self._sd = np.ones(len(phrases), dtype=np.float32)
            self.threshold = FALLBACK_COSINE_THRESHOLD
        self.standardized = bg is not None

    def scores(self, embedding: np.ndarray) -> np.ndarray:
        """Each topic's score for one L2-normalised embedding: the best standardized similarity to its phrases."""
        sims = (self._emb @ np.asarray(embedding, dtype=np.float32).reshape(-1) - self._mu) / self._sd
        best = np.full(len(self.topics), -np.inf, dtype=np.float32)
        np.maximum.at(best, self._owners, sims)
        return best

    def match(self, embedding: np.ndarray, output: bool) -> list[TopicMatch]:
        """One entry per topic enabled for this source, in configuration order."""
        best = self.scores(embedding)
        out = []
        for t, s in zip(self.topics, best):
            action = t.action(output)
            if action is not None:
                out.append(TopicMatch(t.name, float(s), bool(s >= self.threshold), action))
        return out
