"""Trains the classifier's lexical member (safegen.text.lexical) on the TRAIN split and writes lexical.npz."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from safegen.core.types import CATEGORIES
from safegen.text import lexical as lx
from safegen.training.text import datasets as ds
from safegen.training.text import real_data as rd

#: Chosen on VAL (docs/text-classifier.md): inverse regularisation of each head, the logit-space weight of
#: the lexical member in the served mix (0 = encoder only) and the floor on its logit.
C = 16.0
MIX_WEIGHT = 0.5
FLOOR = -3.0
#: Extra weight of benign texts in the wording of unsafe ones (chat questions, XSTest's safe prompts, look-alikes)
HARD_NEGATIVE_WEIGHT = 1.0
HARD_NEGATIVE_ROLES = (ds.ROLE_BENIGN_TEXT, rd.ROLE_XSTEST_SAFE)
#: ... and benign prompts in other languages, whose character n-grams are rare in the English corpora: without
#: the weight, French alone read as PROMPT_ATTACK to the member (the jailbreak sets hold most non-English text).
HARD_NEGATIVE_SOURCES = ("benign_lookalike", "multilingual_benign", "multilingual_templates")


def feature_matrix(texts: Sequence[str]):
    """The damped counts of every text as a CSR matrix [n, N_FEATURES] (before idf)."""
    import scipy.sparse as sp

    indptr, indices, values = [0], [], []
    for text in texts:
        idx, tf = lx.features(text)
        indices.append(idx)
        values.append(tf)
        indptr.append(indptr[-1] + len(idx))
    return sp.csr_matrix(
        (np.concatenate(values), np.concatenate(indices), np.asarray(indptr)),
        shape=(len(texts), lx.N_FEATURES),
        dtype=np.float32,
    )


def idf_of(counts) -> np.ndarray:
    """Smoothed inverse document frequency, as scikit-learn's TfidfTransformer computes it."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=lx.N_FEATURES)
    return (np.log((1 + n) / (1 + df)) + 1.0).astype(np.float32)


def normalized(counts, idf: np.ndarray):
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    return normalize(counts @ sp.diags(idf.astype(np.float32)), norm="l2", copy=False)


def train(
    examples: Sequence[ds.Example],
    c: float = C,
    mix_weight: float = MIX_WEIGHT,
    floor: float = FLOOR,
    hard_negative_weight: float = HARD_NEGATIVE_WEIGHT,
    log: Callable[[str], object] = print,
) -> tuple[lx.LexicalModel, dict]:
    """Six class-balanced L2 logistic heads on TRAIN; soft targets >= 0.5 count as positives, weighted by
    their target. Deterministic (liblinear, no sampling)."""
    from sklearn.linear_model import LogisticRegression

    train_set = [e for e in examples if e.split == ds.TRAIN]
    t0 = time.time()
    counts = feature_matrix([e.text for e in train_set])
    idf = idf_of(counts)
    x = normalized(counts, idf)
    y_all = np.array([e.target() for e in train_set], dtype=np.float32)
    hard_negative = np.array(
        [(e.role in HARD_NEGATIVE_ROLES or e.source in HARD_NEGATIVE_SOURCES) and not e.labels for e in train_set]
    )
    neg_weight = np.where(hard_negative, hard_negative_weight, 1.0)
    weights = np.zeros((lx.N_FEATURES, len(CATEGORIES)), dtype=np.float32)
    bias = np.zeros(len(CATEGORIES), dtype=np.float32)
    positives = {}
    for j, cat in enumerate(CATEGORIES):
        y = y_all[:, j] >= 0.5
        positives[cat.value] = int(y.sum())
        if y.all() or not y.any():  # nothing to separate (tiny corpora): a constant head at the smoothed rate
            rate = (y.sum() + 0.5) / (len(y) + 1.0)
            bias[j] = np.log(rate / (1 - rate))
            log(f"lexical head {cat.value}: {int(y.sum())} of {len(y)} positive, constant")
            continue
        w = np.where(y, np.maximum(y_all[:, j], 0.5), neg_weight)
        head = LogisticRegression(C=c, max_iter=2000, solver="liblinear", class_weight="balanced")
        head.fit(x, y, sample_weight=w)
        weights[:, j] = head.coef_[0]
        bias[j] = head.intercept_[0]
        log(f"lexical head {cat.value}: {int(y.sum())} positives, {time.time() - t0:.0f}s")
    model = lx.LexicalModel(weights, bias, idf, mix_weight, floor)
    recipe = {
        "features": f"char_wb {lx.CHAR_NGRAMS[0]}-{lx.CHAR_NGRAMS[1]}-grams into {lx.CHAR_BUCKETS} CRC-32 buckets, "
        f"words and word pairs into {lx.WORD_BUCKETS}; 1+log tf, smoothed idf, l2",
        "heads": f"liblinear L2 logistic regression, C={c}, class_weight=balanced, soft targets >= 0.5 positive",
        "mix": f"sigmoid((1-w)*logit(encoder) + w*max(logit(lexical), floor)), w={mix_weight}, floor={floor}",
        "hard_negative_weight": f"{hard_negative_weight} on benign {', '.join(HARD_NEGATIVE_ROLES + HARD_NEGATIVE_SOURCES)}",
        "train_examples": len(train_set),
        "positives": positives,
        "minutes": round((time.time() - t0) / 60, 2),
    }
    return model, recipe
