"""Load benchmark: concurrent Generate / StreamGenerate ramped to 200 against `safegen serve` over loopback.

Starts the all-in-one `safegen serve` (bundled model, real moderation) on free ports, or uses
`--target HOST:PORT`. For each stage (concurrency 1, 10, 50, 100, 200 by default) that many callers
loop for `--stage-seconds`, alternating Generate and StreamGenerate. Prints per stage the completed
requests per second, p50/p99 latency of the successful ones and the status table; every returned
PNG is decoded and checked against the requested size, and images are counted (returned, blurred,
withheld), so nothing lost or corrupted goes unnoticed. Bounded: stages x stage-seconds plus the
drain of the last requests (each at most --timeout).

    python bench/bench_load.py [--stages 1,10,50,100,200] [--stage-seconds 10] [--size 256]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import start_stack, stop_stack  # noqa: E402

MB = 1024 * 1024
PROMPTS = [
    "a yellow circle on a blue background",
    "a green square on a white background",
    "a blue triangle on a yellow background",
    "a red circle on a white background",
]


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Tally:
    def __init__(self):
        self.codes: collections.Counter = collections.Counter()
        self.ok_seconds: list[float] = []
        self.images = collections.Counter()  # returned, blurred, withheld, corrupt, wrong_size, missing
        self.details: collections.Counter = collections.Counter()

    def check_images(self, response, size: int, asked: int) -> None:
        from PIL import Image

        if len(response.images) + 0 < asked and response.action == 0:
            self.images["missing"] += asked - len(response.images)
        for img in response.images:
            if not img.data:
                self.images["withheld"] += 1
                continue
            try:
                with Image.open(io.BytesIO(img.data)) as im:
                    im.load()
                    if im.format != "PNG" or im.size != (size, size):
                        self.images["wrong_size_or_format"] += 1
                        continue
            except Exception:  # noqa: BLE001 - a corrupt image is exactly what this counts
                self.images["corrupt"] += 1
                continue
            self.images["blurred" if img.blurred else "returned"] += 1


async def caller(stub, pb, deadline: float, size: int, tally: Tally, timeout: float, n: int, grpc) -> None:
    i = n
    while time.monotonic() < deadline:
        i += 1
        kwargs = dict(prompt=PROMPTS[i % len(PROMPTS)], width=size, height=size, num_images=1, seed=i)
        t0 = time.perf_counter()
        try:
            if i % 2:
                resp = await stub.Generate(pb.GenerateRequest(**kwargs), timeout=timeout)
            else:
                resp = None
                async for event in stub.StreamGenerate(pb.StreamGenerateRequest(**kwargs), timeout=timeout):
                    if event.HasField("result"):
                        resp = event.result
                if resp is None:
                    tally.codes["STREAM_WITHOUT_RESULT"] += 1
                    continue
            tally.codes["OK"] += 1
            tally.ok_seconds.append(time.perf_counter() - t0)
            tally.check_images(resp, size, 1)
        except grpc.aio.AioRpcError as e:
            tally.codes[e.code().name] += 1
            tally.details[f"{e.code().name}: {(e.details() or '')[:90]}"] += 1
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                # A shed caller backs off: retry-after when the server sent one, else 0.2 s.
                after = dict(e.trailing_metadata() or ()).get("retry-after")
                await asyncio.sleep(min(float(after), 5.0) if after else 0.2)


async def run(target: str, stages: list[int], stage_seconds: float, size: int, timeout: float) -> int:
    import grpc

    from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc

    opts = [("grpc.max_receive_message_length", 100 * MB)]
    # A few channels, as several client processes would open: one HTTP/2 connection for 200 callers would
    # measure the connection's stream limit rather than the server.
    channels = [grpc.aio.insecure_channel(target, options=opts + [("grpc.channel_id", k)]) for k in range(4)]
    stubs = [safe_generation_pb2_grpc.SafeGenerationServiceStub(c) for c in channels]
    total = Tally()
    print(f"{'callers':>7} {'done/s':>7} {'ok/s':>6} {'p50 s':>7} {'p99 s':>7}  statuses")
    for conc in stages:
        tally = Tally()
        deadline = time.monotonic() + stage_seconds
        t0 = time.perf_counter()
        await asyncio.gather(
            *(caller(stubs[k % len(stubs)], pb, deadline, size, tally, timeout, k * 1000, grpc) for k in range(conc))
        )
        wall = time.perf_counter() - t0
        done = sum(tally.codes.values())
        print(
            f"{conc:>7} {done / wall:>7.1f} {tally.codes['OK'] / wall:>6.2f} {pct(tally.ok_seconds, 50):>7.2f} "
            f"{pct(tally.ok_seconds, 99):>7.2f}  {dict(tally.codes)}",
            flush=True,
        )
        total.codes.update(tally.codes)
        total.ok_seconds += tally.ok_seconds
        total.images.update(tally.images)
        total.details.update(tally.details)
    for c in channels:
        await c.close()
    print("\nall stages, status table:")
    for code, n in total.codes.most_common():
        print(f"  {code:24s} {n}")
    print("refusals by message:")
    for what, n in total.details.most_common(6):
        print(f"  {n:6d}  {what}")
    print(f"images decoded and checked ({size}x{size} PNG): {dict(total.images)}")
    lost = (
        total.images["corrupt"]
        + total.images["wrong_size_or_format"]
        + total.images["missing"]
        + total.codes["STREAM_WITHOUT_RESULT"]
    )
    print(f"lost or corrupted: {lost}")
    return 0 if lost == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="1,10,50,100,200")
    ap.add_argument("--stage-seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--target", default="", help="gRPC HOST:PORT of a running gateway (default: start one)")
    args = ap.parse_args()
    stages = [int(s) for s in args.stages.split(",") if s.strip()]
    proc = None
    target = args.target
    if not target:
        proc, info = start_stack(Path(tempfile.mkdtemp(prefix="safegen-load-")), http=False)
        port = info["port"]
        target = f"127.0.0.1:{port}"
    try:
        return asyncio.run(run(target, stages, args.stage_seconds, args.size, args.timeout))
    finally:
        if proc is not None:
            stop_stack(proc)


if __name__ == "__main__":
    sys.exit(main())
