"""Doubles shared by the guardrail policy tests: a fixed-score text backend, a bag-of-words encoder, file helpers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import yaml

from safegen.core.types import Category, CategoryScore, Level, TextAssessment

SCORE = {Level.NONE: 0.1, Level.LOW: 0.4, Level.MEDIUM: 0.7, Level.HIGH: 0.95}


class FixedBackend:
    """Scores every text the same, except texts containing a key of `by_word` (then that level)."""

    name = "fixed"

    def __init__(
        self, levels: dict[Category, Level] | None = None, by_word: dict[str, dict[Category, Level]] | None = None
    ):
        self.levels = levels or {}
        self.by_word = by_word or {}

    def assess(self, text, source):
        levels = dict(self.levels)
        for w, lv in self.by_word.items():
            if w in text.lower():
                levels.update(lv)
        return TextAssessment({c: CategoryScore(c, SCORE[v], v) for c, v in levels.items()}, backend=self.name)


class HashEncoder:
    """Bag-of-words embedding (one hashed dimension per word): texts sharing words are similar. For topic logic
    tests that must not depend on a real model; the real encoder is tested in test_topics.py."""

    dim = 256

    def embed(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            out[i] /= n if n else 1.0
        return out


def write(directory: Path, name: str, doc: dict) -> Path:
    p = directory / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p
