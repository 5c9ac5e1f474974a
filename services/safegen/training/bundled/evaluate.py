"""Measures how well the bundled model follows prompts: colour roles over many seeds, negative prompts.

    PYTHONPATH=services python -m safegen.training.bundled.evaluate [--seeds 24] [--model DIR]

Each image is read at its native 32x32: every pixel is snapped to the nearest of the six training
colours; an image "matches" "a <fg> <shape> on a <bg> background" when the background colour covers
most of the border, the foreground colour is present, and the foreground is most of what is not
background. Shapes are not checked (colour roles are what the tests and docs report).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .data import RGB

NAMES = tuple(RGB)
_PALETTE = np.array([RGB[n] for n in NAMES], dtype=np.float32)

PROMPTS = [
    ("red", "circle", "white"),
    ("yellow", "circle", "blue"),
    ("white", "square", "red"),
    ("blue", "square", "yellow"),
    ("black", "triangle", "green"),
    ("green", "triangle", "black"),
]


def colour_map(image) -> np.ndarray:
    """[H, W] indices into NAMES: each pixel's nearest training colour."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    d = ((arr[:, :, None, :] - _PALETTE[None, None]) ** 2).sum(-1)
    return d.argmin(-1)


def fractions(image) -> dict[str, float]:
    idx = colour_map(image)
    return {n: float((idx == i).mean()) for i, n in enumerate(NAMES)}


def matches(image, fg: str, bg: str) -> bool:
    idx = colour_map(image)
    border = np.concatenate([idx[0], idx[-1], idx[:, 0], idx[:, -1]])
    f, b = NAMES.index(fg), NAMES.index(bg)
    bg_border = (border == b).mean()
    fg_all = (idx == f).mean()
    not_bg = idx != b
    fg_share = (idx[not_bg] == f).mean() if not_bg.any() else 0.0
    return bool(bg_border >= 0.6 and fg_all >= 0.04 and fg_share >= 0.6)


def load(model: str | None = None):
    """The bundled model through the production backend (the same code path as any local model)."""
    from safegen.generation.backends import build_backend
    from safegen.generation.settings import GenerationSettings

    env = {"SAFEGEN_GEN_MODEL": model} if model else {}
    return build_backend(GenerationSettings.from_env(env))


def generate(backend, prompt: str, seeds, negative: str = "", guidance: float = 0.0, steps: int = 0):
    """Native-size PIL images, one per seed."""
    import io

    from PIL import Image

    from safegen.generation.request import CancelToken, GenerationRequest, validate

    out = []
    for seed in seeds:
        req = validate(
            GenerationRequest(
                prompt=prompt,
                negative_prompt=negative,
                width=32,
                height=32,
                seed=seed,
                guidance_scale=guidance,
                steps=steps,
            ),
            backend.limits,
        )
        result = backend.generate(req, None, CancelToken())
        out.append(Image.open(io.BytesIO(result.images[0])).convert("RGB"))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=24)
    p.add_argument("--model", default=None, help="pipeline directory (default: the bundled weights)")
    p.add_argument("--guidance", type=float, default=0.0, help="0 = the model's default")
    p.add_argument("--grid", default="", help="write a PNG grid of the samples here")
    args = p.parse_args(argv)
    backend = load(args.model)
    seeds = range(args.seeds)
    grid_rows = []
    t0 = time.perf_counter()
    for fg, shape, bg in PROMPTS:
        prompt = f"a {fg} {shape} on a {bg} background"
        images = generate(backend, prompt, seeds, guidance=args.guidance)
        hits = sum(matches(im, fg, bg) for im in images)
        swapped = sum(matches(im, bg, fg) for im in images)
        print(f"{prompt}: {hits}/{len(images)} match, {swapped} with roles swapped", flush=True)
        grid_rows.append(images[:12])
    base = "a circle on a white background"
    plain = generate(backend, base, seeds, guidance=args.guidance)
    negated = generate(backend, base, seeds, negative="blue", guidance=args.guidance)
    blue_plain = np.mean([fractions(im)["blue"] for im in plain])
    blue_neg = np.mean([fractions(im)["blue"] for im in negated])
    print(f"negative prompt 'blue' on '{base}': blue pixels {blue_plain:.1%} -> {blue_neg:.1%}")
    print(f"{(time.perf_counter() - t0) / (len(PROMPTS) + 2) / len(seeds):.3f} s per image (native size)")
    if args.grid:
        from PIL import Image

        rows = grid_rows + [plain[:12], negated[:12]]
        cols = max(len(r) for r in rows)
        sheet = Image.new("RGB", (cols * 34, len(rows) * 34), (128, 128, 128))
        for r, row in enumerate(rows):
            for c, im in enumerate(row):
                sheet.paste(im, (c * 34 + 1, r * 34 + 1))
        sheet.resize((sheet.width * 3, sheet.height * 3), Image.Resampling.NEAREST).save(args.grid)


if __name__ == "__main__":
    main()
