"""The classifier's lexical member: hashed character and word n-grams into six logistic heads (numpy only).

The fine-tuned encoder generalises from meaning; this member remembers spellings. Unsafe image prompts are
copied, edited and re-shared (the same artist, subject and style tail with a word changed), and n-grams
recognise such a near copy of a known unsafe prompt where the encoder, cut at 64 word pieces, often does
not. The two are mixed in logit space (``LexicalModel.mix``, with a floor on the member's logit), and the
mix is what calibration.json's thresholds were set on. No training text is shipped: the file holds one weight per hash bucket.

The features are fixed here, once, for training and serving alike: lower-cased text; every character 2-5
gram inside a word padded with one space on each side (scikit-learn's ``char_wb``); every word and word
pair (``\\w+`` tokens); each hashed with CRC-32 into its own bucket range; counts damped to 1 + log(count),
weighted by inverse document frequency and scaled to unit length.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.core.settings import SettingsError
from safegen.core.types import CATEGORIES

LEXICAL_FILE = "lexical.npz"
CHAR_BUCKETS = 1 << 18
WORD_BUCKETS = 1 << 16
N_FEATURES = CHAR_BUCKETS + WORD_BUCKETS
CHAR_NGRAMS = (2, 5)
_WORD = re.compile(r"\w+")
#: The texts are cut to this many characters before featurisation, so that a 100 KB input costs what a
#: long prompt costs (the encoder reads 64 word pieces, about 300 characters; this reads more).
MAX_CHARS = 2000


def features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(bucket indices, 1 + log count) of one text, before idf weighting and length normalisation."""
    t = text[:MAX_CHARS].lower()
    counts: dict[int, int] = {}
    crc = zlib.crc32
    lo, hi = CHAR_NGRAMS
    for word in t.split():
        w = f" {word} ".encode()
        n_w = len(w)
        for n in range(lo, min(hi, n_w) + 1):
            for i in range(n_w - n + 1):
                k = crc(w[i : i + n]) % CHAR_BUCKETS
                counts[k] = counts.get(k, 0) + 1
    words = _WORD.findall(t)
    for i, tok in enumerate(words):
        k = CHAR_BUCKETS + crc(b"w:" + tok.encode()) % WORD_BUCKETS
        counts[k] = counts.get(k, 0) + 1
        if i + 1 < len(words):
            k = CHAR_BUCKETS + crc(f"b:{tok} {words[i + 1]}".encode()) % WORD_BUCKETS
            counts[k] = counts.get(k, 0) + 1
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
    return idx, tf


def weighted(idx: np.ndarray, tf: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """The unit-length tf-idf values of one text's buckets."""
    v: np.ndarray = tf * idf[idx]
    norm = float(np.sqrt(np.dot(v, v)))
    return v / norm if norm > 0 else v


def _logit(p: np.ndarray) -> np.ndarray:
    q: np.ndarray = np.clip(p, 1e-6, 1 - 1e-6)
    out: np.ndarray = np.log(q / (1 - q))
    return out


class LexicalModel:
    """Six logistic heads over the hashed features; ``mix`` combines them with the encoder's scores."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, idf: np.ndarray, mix_weight: float, floor: float = -3.0):
        if weights.shape != (N_FEATURES, len(CATEGORIES)) or bias.shape != (len(CATEGORIES),):
            raise SettingsError(
                f"lexical model has weights {weights.shape} and bias {bias.shape}; expected "
                f"({N_FEATURES}, {len(CATEGORIES)}) and ({len(CATEGORIES)},): it was built by another version"
            )
        if idf.shape != (N_FEATURES,):
            raise SettingsError(f"lexical model has idf {idf.shape}; expected ({N_FEATURES},)")
        if not 0.0 <= mix_weight <= 1.0:
            raise SettingsError(f"lexical model mix weight {mix_weight} must be within [0, 1]")
        if not -20.0 <= floor <= 0.0:
            raise SettingsError(f"lexical model floor {floor} must be a logit within [-20, 0]")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.idf = idf.astype(np.float32)
        self.mix_weight = float(mix_weight)
        self.floor = float(floor)

    @classmethod
    def load(cls, folder: Path) -> LexicalModel | None:
        """The member in ``folder``, or None when the folder has none (an encoder-only model)."""
        path = Path(folder) / LEXICAL_FILE
        if not path.exists():
            return None
        try:
            with np.load(path) as z:
                return cls(z["weights"], z["bias"], z["idf"], float(z["mix_weight"]), float(z["floor"]))
        except (KeyError, ValueError, OSError) as exc:
            raise SettingsError(f"{path} is not a lexical model file: {exc}") from exc

    def save(self, folder: Path) -> None:
        from safegen.core.files import atomic_path

        with atomic_path(Path(folder) / LEXICAL_FILE, mode=0o644) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                weights=self.weights.astype(np.float16),
                bias=self.bias,
                idf=self.idf.astype(np.float16),
                mix_weight=np.float32(self.mix_weight),
                floor=np.float32(self.floor),
            )

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """[n, 6] probabilities of the lexical heads alone."""
        out = np.empty((len(texts), len(CATEGORIES)), dtype=np.float32)
        for i, text in enumerate(texts):
            idx, tf = features(text)
            z = self.bias + (weighted(idx, tf, self.idf) @ self.weights[idx] if len(idx) else 0.0)
            out[i] = 1.0 / (1.0 + np.exp(-z))
        return out

    def mix(self, encoder: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        """The served score: sigmoid((1 - w) * logit(encoder) + w * max(logit(lexical), floor)). The floor bounds
        how far the n-grams can pull a score down: an unsafe subject in words the member never saw (its logit
        says "confidently benign") must not veto an encoder that recognises it."""
        w = self.mix_weight
        z = (1.0 - w) * _logit(encoder) + w * np.maximum(_logit(lexical), self.floor)
        out: np.ndarray = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        return out
