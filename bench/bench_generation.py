"""Benchmark: seconds per image (and images per second) of the bundled model, onnxruntime path and diffusers path.

    PYTHONPATH=services python bench/bench_generation.py [--images 10] [--size 512] [--steps 20] [--runtime both]

`onnx` is what `safegen serve` runs by default (BundledBackend); `diffusers` is the same committed weights
through DiffusersBackend (SAFEGEN_GEN_MODEL set to the weights directory). Both go through the production
backends, with the guardrail's safety negatives, so classifier-free guidance runs (two UNet passes per step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# Spinning OpenMP workers are very slow on a shared CPU; must be set before torch or onnxruntime load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run(runtime: str, args) -> None:
    from safegen.generation.backends import build_backend
    from safegen.generation.request import CancelToken, GenerationRequest, validate
    from safegen.generation.settings import BUNDLED_MODEL_DIR, GenerationSettings

    env = {"SAFEGEN_GEN_TORCH_THREADS": str(args.threads)} if args.threads else {}
    if runtime == "diffusers":
        env["SAFEGEN_GEN_MODEL"] = str(BUNDLED_MODEL_DIR)
    t0 = time.perf_counter()
    backend = build_backend(GenerationSettings.from_env(env))
    load_s = time.perf_counter() - t0
    req = GenerationRequest(
        prompt="a red circle on a white background",
        width=args.size,
        height=args.size,
        steps=args.steps,
        safety_negative_prompts=("nsfw", "nudity", "gore"),
    )
    backend.generate(validate(req, backend.limits), None, CancelToken())  # warm-up
    times = []
    for seed in range(args.images):
        r = validate(GenerationRequest(**{**req.__dict__, "seed": seed}), backend.limits)
        t = time.perf_counter()
        backend.generate(r, None, CancelToken())
        times.append(time.perf_counter() - t)
    batch = validate(GenerationRequest(**{**req.__dict__, "seed": 0, "num_images": 4}), backend.limits)
    t = time.perf_counter()
    backend.generate(batch, None, CancelToken())
    batch_s = (time.perf_counter() - t) / 4
    median = statistics.median(times)
    print(
        f"{runtime:9s} ({type(backend).__name__}): load {load_s:.2f} s (in a process that already imported "
        f"what earlier runs did); {args.size}x{args.size} from 32x32, {batch.steps} steps: median {median:.3f} s/image "
        f"({1 / median:.2f} images/s), min {min(times):.3f}, max {max(times):.3f} over {len(times)} images; "
        f"batch of 4: {batch_s:.3f} s/image ({1 / batch_s:.2f} images/s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--size", type=int, default=512, help="requested width and height (native is 32)")
    p.add_argument("--steps", type=int, default=0, help="0 = the model's default (20 DDIM steps)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="SAFEGEN_GEN_TORCH_THREADS (torch threads, onnxruntime intra-op threads); 0 = their default",
    )
    p.add_argument("--runtime", choices=("onnx", "diffusers", "both"), default="both")
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for runtime in ("onnx", "diffusers") if args.runtime == "both" else (args.runtime,):
        run(runtime, args)


if __name__ == "__main__":
    main()
