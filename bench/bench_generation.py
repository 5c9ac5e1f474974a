"""Benchmark: seconds per image for the bundled model on this machine, through the production backend.

    PYTHONPATH=services python bench/bench_generation.py [--images 10] [--size 512] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

# Spinning OpenMP workers are very slow on a shared CPU; must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=10)
    p.add_argument("--size", type=int, default=512, help="requested width and height (native is 32)")
    p.add_argument("--steps", type=int, default=0, help="0 = the model's default (20 DDIM steps)")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from safegen.generation.request import CancelToken, GenerationRequest, validate
    from safegen.generation.backends import build_backend
    from safegen.generation.settings import GenerationSettings

    t0 = time.perf_counter()
    backend = build_backend(GenerationSettings.from_env({}))
    load_s = time.perf_counter() - t0
    req = GenerationRequest(prompt="a red circle on a white background", width=args.size, height=args.size,
                            steps=args.steps, safety_negative_prompts=("nsfw", "nudity", "gore"))
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
    print(f"bundled model: load {load_s:.2f} s, torch threads {torch.get_num_threads()}")
    print(f"{args.size}x{args.size} from 32x32, {batch.steps} steps: median {statistics.median(times):.3f} s/image, "
          f"min {min(times):.3f}, max {max(times):.3f} over {len(times)} images; batch of 4: {batch_s:.3f} s/image")


if __name__ == "__main__":
    main()
