"""The one adapter between guardrail policies and the shipped text encoder (the classifier's MiniLM backbone).

Denied topics compare a text's embedding with their definitions' embeddings. The embedding comes from
the text classifier's public entry points (`safegen.text.classifier.load_backbone` and the backbone's
`embed`), and nowhere else, so a change to how the classifier loads its backbone touches this file only.
"""

from __future__ import annotations

import threading
from typing import Protocol, Sequence

import numpy as np


class TextEncoder(Protocol):
    """Texts -> L2-normalised embeddings, one row per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


_lock = threading.Lock()
_shared: TextEncoder | None = None


def encoder_for(backend: object | None = None) -> TextEncoder:
    """The process's text encoder: the text backend's own backbone when it has one (one model in memory,
    not two), else the backbone the SAFEGEN_TEXT_CLASSIFIER_* settings describe, loaded once."""
    global _shared
    backbone: TextEncoder | None = getattr(getattr(backend, "classifier", None), "backbone", None)
    if backbone is not None and hasattr(backbone, "embed"):
        return backbone
    with _lock:
        if _shared is None:
            from safegen.text.classifier import ClassifierSettings, load_backbone

            s = ClassifierSettings.from_env()
            _shared = load_backbone(s.model, s.runtime, s.cache_dir or None, s.threads)
        return _shared
