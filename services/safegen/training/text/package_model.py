"""Turns a fine-tuned checkpoint into the served model folder: int8 ONNX + tokenizer + calibrated thresholds."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.core.files import atomic_path
from safegen.core.types import CATEGORIES
from safegen.text.classifier import (
    CALIBRATION_FILE,
    MAX_TOKENS,
    ONNX_FILE,
    TOKENIZER_FILE,
    Calibration,
    LocalClassifier,
    torch_model_class,
)

from safegen.training.text import datasets as ds
from safegen.training.text import real_data as rd

#: Share of real-traffic calibration prompts (VAL) allowed above each level, over all six categories together
#: (the issue: LOW ~3%, MEDIUM 1%, HIGH 0.3%). The default guardrail blocks from LOW up.
REAL_BUDGET = {"LOW": 0.03, "MEDIUM": 0.01, "HIGH": 0.003}
#: Held-out short benign inputs (VAL) allowed above each level.
SHORT_BUDGET = {"LOW": 0.004, "MEDIUM": 0.0, "HIGH": 0.0}
#: What the threshold search maximizes: the weighted recall of three groups of VAL positives (unsafe image
#: prompts from I2P and the templated set, attacks, and the other moderation texts).
GROUP_WEIGHT = {"i2p": 2.0, "attack": 2.0, "other": 1.0}
#: Each category's starting share of a level's real-traffic budget (then the greedy search spends the rest).
MIN_SHARE = 0.1


def export_onnx(model, target: Path) -> Path:
    """fp32 ONNX of the whole classifier: (input_ids, attention_mask, token_type_ids) -> [batch, 6] scores."""
    import torch

    model = model.eval()
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp, torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask, torch.zeros_like(ids)),
            str(tmp),
            input_names=names,
            output_names=["scores"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names} | {"scores": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return target


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8, per output channel, of the MatMuls and of the embedding tables (Gather): 4x smaller than fp32.

    Per-channel scales keep scores close to fp32 (per-tensor scales lost ~0.04 cosine on the old embeddings);
    the thresholds are fitted on the int8 scores themselves, so serving and calibration see the same numbers.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Gather"],
        )
    return target


def write_serving_folder(checkpoint: Path, out: Path, tmp_dir: Path) -> None:
    """checkpoint (torch) -> out/model.int8.onnx + out/tokenizer.json (thresholds come later)."""
    model = torch_model_class().from_pretrained(checkpoint)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(model, tmp_dir / "model.fp32.onnx")
    out.mkdir(parents=True, exist_ok=True)
    quantize_int8(fp32, out / ONNX_FILE)
    shutil.copyfile(checkpoint / TOKENIZER_FILE, out / TOKENIZER_FILE)
    # A serving folder must not carry a stale calibration from another model.
    (out / CALIBRATION_FILE).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------
def _union_rate(scores: np.ndarray, th: np.ndarray) -> float:
    return float((scores >= th[None, :]).any(1).mean()) if len(scores) else 0.0


def fit_level(
    real: np.ndarray,
    short: np.ndarray,
    pos: np.ndarray,
    weight: np.ndarray,
    real_budget: float,
    short_budget: float,
    floor: np.ndarray,
    min_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-category thresholds (>= floor) with at most ``real_budget`` of real prompts and ``short_budget`` of
    short benign inputs above any of them, chosen greedily to catch the most (weighted) positives.

    Each category c gets its own share q_c of real prompts above it. Starting from nothing flagged, the search
    repeatedly raises the q_c that buys the most extra weighted detections per extra flagged real prompt, until
    one more step would break a budget.
    """
    k = real.shape[1]
    top = np.maximum(real.max(0), short.max(0) if len(short) else 0.0)
    start = np.maximum(np.minimum(top + 1e-6, 1.0), floor)

    def th_for(q: np.ndarray) -> np.ndarray:
        th = np.array(
            [np.quantile(real[:, j], 1.0 - q[j], method="higher") + 1e-6 if q[j] > 0 else start[j] for j in range(k)]
        )
        return np.clip(np.maximum(th, floor), 0.0, 1.0)

    def ok(th: np.ndarray) -> bool:
        return _union_rate(real, th) <= real_budget + 1e-12 and _union_rate(short, th) <= short_budget + 1e-12

    def gain(th: np.ndarray) -> float:
        return float(((pos >= th[None, :]).any(1) * weight).sum())

    step0 = 1.0 / len(real)
    # Every category starts with its own small share (if the budgets allow it), so no category is left with
    # a threshold that obvious cases never reach just because its VAL positives are few ("nude woman").
    q = np.full(k, min_share)
    if not ok(th_for(q)):
        q = np.zeros(k)
    th = th_for(q)
    for _ in range(2000):
        best, best_q = None, None
        g0, r0 = gain(th), _union_rate(real, th)
        for j in range(k):
            # Several step sizes: a category whose next few quantiles catch nothing (its real-traffic scores
            # are flat at the top) would otherwise never be loosened, however much a bigger step would catch.
            for mult in (1.25, 1.6, 2.5, 4.0, 8.0, 16.0):
                cand = q.copy()
                cand[j] = max(cand[j] * mult, step0 * mult / 1.25)
                if cand[j] > 0.2:
                    continue
                cth = th_for(cand)
                if not ok(cth):
                    continue
                extra = _union_rate(real, cth) - r0
                value = (gain(cth) - g0) / max(extra, step0 / 10)
                if best is None or value > best:
                    best, best_q = value, cand
        if best_q is None:
            break
        q, th = best_q, th_for(best_q)
    return th, q


def calibrate(val_scores: np.ndarray, val: Sequence[ds.Example]) -> Calibration:
    roles = np.array([e.role for e in val])
    sources = np.array([e.source for e in val])
    labels = np.array([e.target() for e in val], dtype=bool)
    # The budget is spent on real prompts that are not suspected unsafe: a real "nude woman" prompt above LOW
    # is a catch, not a false flag (the same keyword filter as for training, real_data.SUSPECT).
    suspect = np.array([bool(rd.SUSPECT.search(e.text)) for e in val])
    real = val_scores[(sources == "sd_discord") & ~suspect]
    short = val_scores[roles == rd.ROLE_SHORT_BENIGN]
    posm = labels.any(1)
    pos = val_scores[posm]
    # Each group of positives counts by its recall, not its size: thousands of attack and tweet positives
    # would otherwise outvote the ~120 unsafe image prompts, the hardest target.
    groups = np.where(
        np.isin(roles[posm], [ds.ROLE_I2P_HARD, ds.ROLE_I2P]),
        "i2p",
        np.where(roles[posm] == ds.ROLE_ATTACK, "attack", "other"),
    )
    weight = np.array([GROUP_WEIGHT[g] / (groups == g).sum() for g in groups])
    levels, qs, rates = {}, {}, {}
    floor = np.zeros(len(CATEGORIES))
    for level in ("LOW", "MEDIUM", "HIGH"):
        th, q = fit_level(
            real, short, pos, weight, REAL_BUDGET[level], SHORT_BUDGET[level], floor, MIN_SHARE * REAL_BUDGET[level]
        )
        levels[level], qs[level] = th, q
        rates[level] = {
            "val_real_traffic_above": _union_rate(real, th),
            "val_short_benign_above": _union_rate(short, th),
            "val_positives_caught": float((pos >= th[None, :]).any(1).mean()),
        }
        floor = th
    thresholds = {
        c: (float(levels["LOW"][j]), float(levels["MEDIUM"][j]), float(levels["HIGH"][j]))
        for j, c in enumerate(CATEGORIES)
    }
    meta = {
        "budgets": {
            "real_traffic": REAL_BUDGET,
            "short_benign": SHORT_BUDGET,
            "group_weight": GROUP_WEIGHT,
            "min_share": MIN_SHARE,
        },
        "per_category_real_share": {
            lvl: {c.value: float(q[j]) for j, c in enumerate(CATEGORIES)} for lvl, q in qs.items()
        },
        "val_rates": rates,
        "val_real_traffic_n": int(len(real)),
        "val_short_benign_n": int(len(short)),
        "val_positives_n": int(posm.sum()),
    }
    return Calibration(thresholds=thresholds, meta=meta)


def calibrate_folder(folder: Path, examples: Sequence[ds.Example], recipe: dict, log=print) -> Calibration:
    """Scores the VAL split with the served model (int8 encoder, mixed with the n-gram member if the folder has
    one) and writes calibration.json into ``folder``."""
    tmp = Calibration(thresholds={c: (1.0, 1.0, 1.0) for c in CATEGORIES}, meta={})
    tmp.save(folder)
    clf = LocalClassifier.load(folder, runtime="onnx-int8", threads=1)
    val = [e for e in examples if e.split == ds.VAL]
    t0 = time.time()
    scores = clf.raw_scores([e.text for e in val])
    log(f"scored {len(val)} validation texts in {time.time() - t0:.0f}s")
    cal = calibrate(scores, val)
    cal.meta = {"version": "5", "max_tokens": MAX_TOKENS, "runtime": "onnx-int8", **recipe, "calibration": cal.meta}
    cal.save(folder)
    log(json.dumps({c.value: t for c, t in cal.thresholds.items()}))
    return cal
