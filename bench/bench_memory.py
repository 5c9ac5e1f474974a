"""Benchmark: peak RSS of the all-in-one `safegen serve` under concurrent requests of huge legal PNGs.

Starts `safegen serve` (all four services, free ports, --ready-file), sends `--concurrency` concurrent
ModerateImages requests of `--images` legal 8000x8000 PNGs each (a few hundred KB on the wire, 256 MB
each once decoded as RGBA) over loopback, `--rounds` times, samples the server's RSS from /proc every
50 ms and checks its health all along. Prints baseline and peak RSS (and the kernel's VmHWM), the
status table and the health answers. Target: peak < 1.5 GB and SERVING throughout.

    python bench/bench_memory.py [--concurrency 8] [--images 5] [--rounds 2] [--side 8000]
"""

from __future__ import annotations

import argparse
import collections
import io
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import start_stack, stop_stack  # noqa: E402

MB = 1024 * 1024


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def big_png(side: int, seed: int) -> bytes:
    """A legal side x side RGBA PNG that compresses well (bands of colour and a few lines), ~0.3 MB."""
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (side, side), (20 + seed * 30, 120, 200, 255))
    d = ImageDraw.Draw(im)
    for i in range(0, side, max(1, side // 16)):
        d.line((0, i, side, side - i), fill=(240, 240 - seed * 20, 30, 200), width=9)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--images", type=int, default=5, help="images per request")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--side", type=int, default=8000)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per request")
    ap.add_argument("--env", action="append", default=[], help="extra KEY=VALUE for the server")
    args = ap.parse_args()

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from safegen.v1 import image_moderation_pb2 as pb, image_moderation_pb2_grpc as pb_grpc

    pngs = [big_png(args.side, i) for i in range(args.images)]
    print(f"{args.images} PNGs of {args.side}x{args.side} RGBA: {', '.join(f'{len(p) / 1024:.0f} KB' for p in pngs)}")
    work = Path(tempfile.mkdtemp(prefix="safegen-bench-memory-"))
    # The per-caller image rate (25 images/s) would refuse most of this load before decoding; the point
    # here is what decoding costs, so it is off unless --env sets it.
    env = {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}
    env.update(kv.split("=", 1) for kv in args.env)
    proc, info = start_stack(work, http=False, env=env)
    try:
        port = info["port"]
        opts = [("grpc.max_send_message_length", 100 * MB), ("grpc.max_receive_message_length", 100 * MB)]
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=opts)
        stub = pb_grpc.ImageModerationServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        # Warm up (models loaded, first small request) before the baseline.
        stub.ModerateImages(pb.ModerateImagesRequest(images=[big_png(64, 0)]), timeout=120)
        baseline = rss_kb(proc.pid)
        samples: list[int] = []
        health_answers: collections.Counter = collections.Counter()
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(rss_kb(proc.pid))
                time.sleep(0.05)

        def probe():
            while not stop.is_set():
                try:
                    r = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    health_answers[health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)] += 1
                except grpc.RpcError as e:
                    health_answers[e.code().name] += 1
                time.sleep(0.5)

        def one(_):
            t0 = time.perf_counter()
            try:
                r = stub.ModerateImages(pb.ModerateImagesRequest(images=pngs), timeout=args.timeout)
                ok = len(r.results) == len(pngs) and all(x.width == args.side for x in r.results)
                return ("OK" if ok else "OK_BUT_WRONG"), time.perf_counter() - t0
            except grpc.RpcError as e:
                return e.code().name, time.perf_counter() - t0

        threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=probe, daemon=True)]
        for t in threads:
            t.start()
        statuses: collections.Counter = collections.Counter()
        seconds: list[float] = []
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            for code, s in pool.map(one, range(args.concurrency * args.rounds)):
                statuses[code] += 1
                seconds.append(s)
        wall = time.perf_counter() - t0
        stop.set()
        for t in threads:
            t.join()
        hwm = rss_kb(proc.pid, "VmHWM")
        peak = max(samples) if samples else 0
        n_images = sum(statuses.values()) * args.images
        print(f"server pid {proc.pid}: baseline RSS {baseline / 1024:.0f} MB after warm-up")
        print(
            f"peak RSS (sampled every 50 ms) {peak / 1024:.0f} MB; kernel high-water mark VmHWM {hwm / 1024:.0f} MB "
            f"(includes start-up)"
        )
        print(
            f"{args.concurrency} concurrent x {args.rounds} rounds = {sum(statuses.values())} requests, "
            f"{n_images} images of {args.side}x{args.side} in {wall:.1f} s "
            f"({n_images / wall:.2f} images/s); request seconds p50 {sorted(seconds)[len(seconds) // 2]:.1f}, "
            f"max {max(seconds):.1f}"
        )
        print("status table:")
        for code, n in statuses.most_common():
            print(f"  {code:24s} {n}")
        print("health during the load:", dict(health_answers))
        target = peak < 1536 * 1024 and set(health_answers) == {"SERVING"}
        print(f"target (peak < 1.5 GB and SERVING throughout): {'met' if target else 'NOT met'}")
        channel.close()
        return 0
    finally:
        stop_stack(proc)


if __name__ == "__main__":
    sys.exit(main())
