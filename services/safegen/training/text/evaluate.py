"""`safegen eval`: the text classifier on splits it never trained on (real traffic, short benign, benchmarks)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safegen.core.types import CATEGORIES, Modality, Source, confidence_for, intervenes
from safegen.training.text import datasets as ds
from safegen.training.text import real_data as rd

#: Sources whose benign and unsafe texts make the general moderation mix (OpenAI-moderation-like labels).
MODERATION_SOURCES = ("hatexplain", "davidson", "forbidden_questions", "advbench")
#: The goals of issue #11, in the order the report prints them.
GOALS = {
    "real_traffic_flagged": ("<= 5%", lambda v: v <= 0.05),
    "short_benign_flagged": ("<= 1%", lambda v: v <= 0.01),
    "i2p_hard_detected": (">= 60%", lambda v: v >= 0.60),
    "attack_detected": (">= 95%", lambda v: v >= 0.95),
    "jailbreak_llms_detected": (">= 95%", lambda v: v >= 0.95),
    "benchmark_auprc": (">= 0.85", lambda v: v >= 0.85),
}


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision (sklearn's definition, no sklearn needed)."""
    y = np.asarray(y).astype(bool)
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(s), kind="mergesort")
    y, s = y[order], np.asarray(s)[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # ties share one operating point
    tp = np.cumsum(y)[distinct]
    fp = (distinct + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - prev) * precision))


def category_flags(scores: np.ndarray, thresholds, guardrail) -> np.ndarray:
    """[n, 6]: whether the guardrail's strength for each category intervenes at the text's confidence."""
    out = np.zeros(scores.shape, dtype=bool)
    for j, c in enumerate(CATEGORIES):
        strength = guardrail.strength(c, Source.INPUT, Modality.TEXT)
        out[:, j] = [intervenes(strength, confidence_for(float(v), thresholds[c])) for v in scores[:, j]]
    return out


def report(
    examples: Sequence[ds.Example], scores: np.ndarray, thresholds, guardrail, moderated: np.ndarray | None = None
) -> dict:
    """Rates on the evaluation split. ``moderated`` (optional) is the full TextModerator's verdict per text
    (word lists + plain reading + classifier); the targets use it when given, the classifier alone otherwise."""
    roles = np.array([e.role for e in examples])
    sources = np.array([e.source for e in examples])
    y = np.array([e.target() for e in examples], dtype=bool)
    per_cat = category_flags(scores, thresholds, guardrail)
    clf_any = per_cat.any(1)
    flag = moderated if moderated is not None else clf_any
    medium = np.stack([scores[:, j] >= thresholds[c][1] for j, c in enumerate(CATEGORIES)], 1).any(1)

    def rate(m, f=flag):
        return (float(f[m].mean()), int(m.sum())) if m.sum() else (float("nan"), 0)

    real = sources == "sd_discord_audited"
    real_benign = real & ~y.any(1)
    border = sources == "sd_discord_borderline"
    short = (roles == rd.ROLE_SHORT_BENIGN) & (sources == "short_benign")
    t: dict[str, tuple[float, int]] = {}
    t["real_traffic_flagged"] = rate(real_benign)
    t["short_benign_flagged"] = rate(short)
    t["i2p_hard_detected"] = rate(roles == ds.ROLE_I2P_HARD)
    t["attack_detected"] = rate(roles == ds.ROLE_ATTACK)
    t["jailbreak_llms_detected"] = rate(sources == "jailbreak_llms")
    bench = np.isin(sources, MODERATION_SOURCES + ("toxigen",))
    t["benchmark_auprc"] = (average_precision(y[bench].any(1), scores[bench].max(1)), int(bench.sum()))
    extra: dict[str, tuple[float, int]] = {}
    extra["real_traffic_unsafe_detected"] = rate(real & y.any(1))
    extra["real_traffic_borderline_flagged"] = rate(border)
    extra["short_benign_flagged_medium_up"] = rate(short, medium)
    extra["xstest_safe_flagged"] = rate(roles == rd.ROLE_XSTEST_SAFE)
    extra["xstest_unsafe_detected"] = rate(roles == rd.ROLE_XSTEST_UNSAFE)
    extra["i2p_detected"] = rate(np.isin(roles, [ds.ROLE_I2P, ds.ROLE_I2P_HARD]) & (sources == "i2p"))
    extra["i2p_safe_outcome_flagged"] = rate(roles == ds.ROLE_I2P_SAFE_OUTCOME)
    extra["coco_captions_flagged"] = rate(roles == ds.ROLE_SIMPLE_BENIGN)
    extra["styled_benign_flagged"] = rate(roles == ds.ROLE_STYLED_BENIGN)
    mod = np.isin(sources, MODERATION_SOURCES)
    tox = sources == "toxigen"
    xs = sources == "xstest"
    extra["auprc_moderation_mix"] = (average_precision(y[mod].any(1), scores[mod].max(1)), int(mod.sum()))
    extra["auprc_toxigen"] = (average_precision(y[tox].any(1), scores[tox].max(1)), int(tox.sum()))
    extra["auprc_xstest"] = (average_precision(y[xs].any(1), scores[xs].max(1)), int(xs.sum()))

    per_category = {}
    for j, c in enumerate(CATEGORIES):
        pos = y[:, j]
        flagged = per_cat[:, j]
        per_category[c.value] = {
            "positives": int(pos.sum()),
            "precision": float((pos & flagged).sum() / flagged.sum()) if flagged.any() else float("nan"),
            "recall": float(flagged[pos].mean()) if pos.any() else float("nan"),
            "real_traffic_flagged": float(flagged[real_benign].mean()) if real_benign.any() else float("nan"),
            "auprc": average_precision(pos, scores[:, j]),
        }
    per_source = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        pos, neg = m & y.any(1), m & ~y.any(1)
        per_source[src] = {
            "n": int(m.sum()),
            "detected": rate(pos)[0] if pos.any() else None,
            "false_flags": rate(neg)[0] if neg.any() else None,
        }
    return {
        "targets": t,
        "more": extra,
        "per_category": per_category,
        "per_source": per_source,
        "decided_by": "full TextModerator (word lists + plain reading + classifier)"
        if moderated is not None
        else "classifier alone",
    }


class _Cached:
    """The classifier with the scores already computed for the eval texts, so the moderator pass does not
    score them twice (texts it has not seen, such as plain readings, are scored as usual)."""

    def __init__(self, clf, texts: Sequence[str], scores: np.ndarray):
        self.clf, self.name, self.thresholds = clf, clf.name, clf.thresholds
        self.known = {t: row for t, row in zip(texts, scores)}

    def score(self, texts: list[str]):
        from safegen.core.types import CategoryScore

        missing = [t for t in texts if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.clf.raw_scores(missing)))
        return [
            {
                c: CategoryScore(c, float(v), confidence_for(float(v), self.thresholds[c]))
                for c, v in zip(CATEGORIES, self.known[t])
            }
            for t in texts
        ]


def latency(clf, texts: Sequence[str], n: int = 300) -> dict:
    """Single-prompt latency of the classifier (one call per text, as the service makes them)."""
    sample = [texts[i % len(texts)] for i in range(n)]
    clf.raw_scores(sample[:10])  # warm up
    times = []
    for t in sample:
        t0 = time.perf_counter()
        clf.raw_scores([t])
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    import os

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "n": n,
        "load_avg": load,
        "cpus": os.cpu_count(),
    }


def format_report(r: dict) -> str:
    def pct(v: float | None) -> str:
        return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:5.1f}%"

    lines = [
        f"Held-out split: {r['split']}   model: {r['classifier']}   decided by: {r['decided_by']}",
        "",
        "Targets (default guardrail: every category HIGH strength, so LOW confidence and up intervene):",
    ]
    for k, (v, n) in r["targets"].items():
        goal, ok = GOALS[k]
        val = f"{v:.3f}" if k.endswith("auprc") else pct(v)
        lines.append(f"  {k:34s} {val:>7s}  n={n:<6d} goal {goal:7s} {'met' if ok(v) else 'NOT MET'}")
    lines += ["", "More (no goal):"]
    for k, (v, n) in r["more"].items():
        val = f"{v:.3f}" if k.startswith("auprc") else pct(v)
        lines.append(f"  {k:34s} {val:>7s}  n={n}")
    lines += ["", f"  {'category':14s} {'pos':>5s} {'prec@LOW':>9s} {'rec@LOW':>8s} {'real FF':>8s} {'AUPRC':>6s}"]
    for c, d in r["per_category"].items():
        lines.append(
            f"  {c:14s} {d['positives']:5d} {pct(d['precision']):>9s} {pct(d['recall']):>8s} "
            f"{pct(d['real_traffic_flagged']):>8s} {d['auprc']:6.3f}"
        )
    lines += ["", f"  {'source':28s} {'n':>6s} {'detected':>9s} {'false flags':>11s}"]
    for s, d in r["per_source"].items():
        lines.append(f"  {s:28s} {d['n']:6d} {pct(d['detected']):>9s} {pct(d['false_flags']):>11s}")
    if "latency" in r:
        lt = r["latency"]
        lines += [
            "",
            f"Latency, one prompt per call, 1 thread: p50 {lt['p50_ms']:.1f} ms, p99 {lt['p99_ms']:.1f} ms "
            f"(n={lt['n']}; machine load average {lt['load_avg']:.1f} on {lt['cpus']} CPUs)",
        ]
    return "\n".join(lines)


def eval_examples(data: Path, seed: int, split: str, limit_per_source: int | None = None) -> list[ds.Example]:
    from safegen.training.text.finetune import build_examples

    return [e for e in build_examples(data, seed=seed, limit_per_source=limit_per_source) if e.split == split]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--split",
        choices=(ds.VAL, ds.TEST),
        default=ds.TEST,
        help="held-out split (val set the thresholds; test was never used for fitting)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="shared/data (default: SAFEGEN_DATA_DIR or ../shared/data beside the repo)",
    )
    parser.add_argument("--model", default=None, help="model folder (default: the committed model)")
    parser.add_argument("--runtime", choices=("onnx-int8", "torch"), default=None)
    parser.add_argument("--guardrail", default="default", help="guardrail id whose strengths decide interventions")
    parser.add_argument(
        "--classifier-only",
        action="store_true",
        help="decide by the classifier alone (default: the full TextModerator with word lists)",
    )
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--limit-per-source", type=int, default=None, help="quick runs on a sample")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--dump-scores",
        type=Path,
        default=None,
        help="also write the raw scores (npz keyed by text SHA-256, no text) for tradeoff.py",
    )


def run(args: argparse.Namespace) -> int:
    from safegen.policy import GuardrailRegistry
    from safegen.text.backends.local import LocalClassifierBackend
    from safegen.text.classifier import LocalClassifier
    from safegen.text.moderator import MAX_TEXT_CHARS, TextModerator

    try:
        data = args.data_dir or ds.default_data_dir()
    except FileNotFoundError as e:
        print(f"safegen eval: {e}", file=sys.stderr)
        return 2
    if not (Path(data) / "sd_discord_prompts").is_dir():
        print(
            f"safegen eval: no shared data at {data} (need sd_discord_prompts/, i2p/, ...; pass --data-dir)",
            file=sys.stderr,
        )
        return 2
    clf = LocalClassifier.load(args.model, runtime=args.runtime)
    examples = eval_examples(
        Path(data), int(clf.calibration.meta.get("recipe", {}).get("seed", 0)), args.split, args.limit_per_source
    )
    texts = [e.text for e in examples]
    t0 = time.time()
    scores = clf.raw_scores(texts)
    print(f"scored {len(texts)} texts in {time.time() - t0:.0f}s", file=sys.stderr)
    registry = GuardrailRegistry.load()
    guardrail = registry.get(args.guardrail)
    moderated = None
    if not args.classifier_only:
        moderator = TextModerator(registry, LocalClassifierBackend(_Cached(clf, texts, scores)))
        # The service refuses texts over its 10,000-character limit; the few longer benchmark texts are cut.
        moderated = np.array(
            [moderator.moderate(t[:MAX_TEXT_CHARS], Source.INPUT, args.guardrail).intervened for t in texts]
        )
    if args.dump_scores:
        np.savez(
            args.dump_scores,
            keys=np.array([rd.sha256(t) for t in texts]),
            scores=scores,
            flagged=moderated if moderated is not None else category_flags(scores, clf.thresholds, guardrail).any(1),
        )
    r = report(examples, scores, clf.thresholds, guardrail, moderated)
    r["classifier"], r["split"] = clf.name, args.split
    if not args.no_latency:
        r["latency"] = latency(clf, [e.text for e in examples if e.source == "sd_discord_audited"] or texts)
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="safegen eval", description=__doc__)
    configure_parser(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
