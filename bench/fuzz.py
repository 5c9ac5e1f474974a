"""Fuzz benchmark: at least 10,000 generated requests to a running stack over loopback; prints the status table.

Starts the all-in-one `safegen serve` (the real bundled model, detectors and classifier) on free
ports, plus the internal generation service alone (`safegen serve image-generation`, as the chart runs
it) on its own port, or uses `--target HOST:PORT --http HOST:PORT [--generation HOST:PORT]` of a stack
already running on loopback. Requests are drawn from the strategies the fuzz tests use
(tests/support/fuzz.py): every RPC the public port serves (text and image moderation, the gateway's
Generate/StreamGenerate, ApplyGuardrail, ListGuardrails) and every HTTP route go to the all-in-one
process; GenerateImages/StreamGenerateImages, which its public port does not serve (UNIMPLEMENTED: no
image skips moderation), go to the generation service's own port. Any field values (unknown enum
numbers, lying image headers, huge strings, NaN, deeply nested JSON...). Generation requests that leave size or steps at the default are given 64x64
and 2 steps, so the run measures the boundary, not the model. A few calls send random bytes as the
serialized request: grpc answers those itself (reported apart; they may keep grpc's own status).
Target: zero INTERNAL / UNKNOWN / HTTP 500.

    python bench/fuzz.py [--requests 10000] [--concurrency 16] [--seed 1] [--target H:P --http H:P [--generation H:P]]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import start_stack, stop_stack  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fuzz tests' strategies (support.fuzz)

MB = 1024 * 1024


def draw(strategy, n: int, seed: int) -> list:
    """n examples of `strategy`, reproducible for a seed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    out: list = []

    @hseed(seed)
    @settings(
        max_examples=n, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def collect(x):
        out.append(x)

    collect()
    if out and len(out) < n:  # a small space (ListGuardrailsRequest has no fields) is drawn out early: repeat it
        out = out * -(-n // len(out))
    return out[:n]


def cheap_generation(msg) -> None:
    """Defaults (0) of size and steps become 64x64 and 2 steps; anything the caller set stays as drawn."""
    for name, value in (("width", 64), ("height", 64), ("steps", 2)):
        if name in msg.DESCRIPTOR.fields_by_name and getattr(msg, name) == 0:
            setattr(msg, name, value)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--http-share", type=float, default=0.3, help="fraction of requests sent to HTTP routes")
    ap.add_argument("--target", default="", help="gRPC HOST:PORT of a running stack (default: start one)")
    ap.add_argument("--http", default="", help="HTTP HOST:PORT of a running stack")
    ap.add_argument(
        "--generation",
        default="",
        help="gRPC HOST:PORT of a running image generation service "
        "(with --target; without it GenerateImages is not fuzzed)",
    )
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()

    import grpc

    from safegen.v1 import (
        guardrail_pb2,
        guardrail_pb2_grpc,
        image_generation_pb2,
        image_generation_pb2_grpc,
        image_moderation_pb2,
        image_moderation_pb2_grpc,
        safe_generation_pb2,
        safe_generation_pb2_grpc,
        text_moderation_pb2,
        text_moderation_pb2_grpc,
    )
    from support.fuzz import http_requests, messages

    rpcs = [  # (name, request descriptor, stub class, method, streaming, weight); GenerateImages* on their own port
        (
            "ModerateText",
            text_moderation_pb2.ModerateTextRequest,
            text_moderation_pb2_grpc.TextModerationServiceStub,
            "ModerateText",
            False,
            3,
        ),
        (
            "ModerateImages",
            image_moderation_pb2.ModerateImagesRequest,
            image_moderation_pb2_grpc.ImageModerationServiceStub,
            "ModerateImages",
            False,
            3,
        ),
        (
            "GenerateImages",
            image_generation_pb2.GenerateImagesRequest,
            image_generation_pb2_grpc.ImageGenerationServiceStub,
            "GenerateImages",
            False,
            1,
        ),
        (
            "StreamGenerateImages",
            image_generation_pb2.StreamGenerateImagesRequest,
            image_generation_pb2_grpc.ImageGenerationServiceStub,
            "StreamGenerateImages",
            True,
            1,
        ),
        (
            "Generate",
            safe_generation_pb2.GenerateRequest,
            safe_generation_pb2_grpc.SafeGenerationServiceStub,
            "Generate",
            False,
            1,
        ),
        (
            "StreamGenerate",
            safe_generation_pb2.StreamGenerateRequest,
            safe_generation_pb2_grpc.SafeGenerationServiceStub,
            "StreamGenerate",
            True,
            1,
        ),
        (
            "ApplyGuardrail",
            guardrail_pb2.ApplyGuardrailRequest,
            guardrail_pb2_grpc.GuardrailServiceStub,
            "ApplyGuardrail",
            False,
            3,
        ),
        (
            "ListGuardrails",
            guardrail_pb2.ListGuardrailsRequest,
            guardrail_pb2_grpc.GuardrailServiceStub,
            "ListGuardrails",
            False,
            1,
        ),
    ]
    internal = {"GenerateImages", "StreamGenerateImages"}  # ImageGenerationService: not on the public port
    if args.target and not args.generation:
        rpcs = [r for r in rpcs if r[0] not in internal]
    rng = random.Random(args.seed)
    n_http = int(args.requests * args.http_share)
    n_raw = max(1, args.requests // 100)
    n_grpc = args.requests - n_http - n_raw
    total_w = sum(r[5] for r in rpcs)
    t0 = time.perf_counter()
    plan: list[tuple] = []
    for i, (name, cls, stub_cls, method, streaming, w) in enumerate(rpcs):
        k = n_grpc * w // total_w if i < len(rpcs) - 1 else n_grpc - sum(1 for p in plan if p[0] == "grpc")
        for msg in draw(messages(cls.DESCRIPTOR), k, args.seed + i):
            if name in ("GenerateImages", "StreamGenerateImages", "Generate", "StreamGenerate"):
                cheap_generation(msg)
            plan.append(("grpc", name, stub_cls, method, streaming, msg))
    for req in draw(http_requests(), n_http, args.seed + 100):
        plan.append(("http", req))
    for i in range(n_raw):
        name, _, stub_cls, method, streaming, _ = rpcs[i % len(rpcs)]
        plan.append(("raw", name, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))))
    rng.shuffle(plan)
    print(
        f"drew {len(plan)} requests ({n_grpc} gRPC, {n_http} HTTP, {n_raw} raw bytes) in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    procs = []
    if args.target:
        target, http_target, gen_target = args.target, args.http, args.generation
    else:
        work = Path(tempfile.mkdtemp(prefix="safegen-fuzz-"))
        proc, info = start_stack(work)
        procs.append(proc)
        try:
            gen_proc, gen_info = start_stack(work, mode="image-generation", http=False)
        except SystemExit:
            stop_stack(proc)
            raise
        procs.append(gen_proc)
        port, http_port = info["port"], info["http_port"]
        target, http_target = f"127.0.0.1:{port}", f"127.0.0.1:{http_port}"
        gen_target = f"127.0.0.1:{gen_info['port']}"
    host, _, hport = http_target.rpartition(":")
    opts = [("grpc.max_receive_message_length", 100 * MB), ("grpc.max_send_message_length", 100 * MB)]
    channel = grpc.insecure_channel(target, options=opts)
    gen_channel = grpc.insecure_channel(gen_target, options=opts) if gen_target else channel
    print(f"public port {target} (HTTP {http_target}); image generation {gen_target or 'not fuzzed'}", flush=True)
    # Before the run: the public port must not serve generation (the moderation bypass stays closed).
    try:
        image_generation_pb2_grpc.ImageGenerationServiceStub(channel).GenerateImages(
            image_generation_pb2.GenerateImagesRequest(prompt="a cat", width=64, height=64, steps=2), timeout=30
        )
        bypass = "it answered OK"
    except grpc.RpcError as e:
        bypass = "" if e.code() == grpc.StatusCode.UNIMPLEMENTED else f"it answered {e.code().name}"
    if bypass and not args.generation:  # --generation may name the public port of a split stack on purpose
        raise SystemExit(f"GenerateImages on the public port {target} must be UNIMPLEMENTED; {bypass}")
    stubs: dict = {}
    statuses: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    bad: list[str] = []
    lock = threading.Lock()

    per_rpc: collections.Counter = collections.Counter()

    def record(kind: str, code: str, what: str, detail: str) -> None:
        with lock:
            statuses[kind][code] += 1
            if kind == "grpc":
                per_rpc[what] += 1
            if code in ("INTERNAL", "UNKNOWN", "500") and kind != "raw" and len(bad) < 20:
                bad.append(f"{what}: {code} {detail[:300]}")

    def send(item) -> None:
        kind = item[0]
        if kind == "grpc":
            _, name, stub_cls, method, streaming, msg = item
            ch = gen_channel if name in internal else channel
            stub = stubs.get(stub_cls) or stubs.setdefault(stub_cls, stub_cls(ch))
            try:
                result = getattr(stub, method)(msg, timeout=args.timeout)
                if streaming:
                    for _ in result:
                        pass
                record("grpc", "OK", name, "")
            except grpc.RpcError as e:
                record("grpc", e.code().name, name, f"{e.details()} <- {str(msg)[:200]!r}")
        elif kind == "http":
            method, path, body, headers = item[1]
            conn = http.client.HTTPConnection(host, int(hport), timeout=args.timeout)
            try:
                conn.request(method, path, body=body if method != "GET" else None, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                record("http", str(resp.status), f"{method} {path}", f"{raw[:200]!r} <- {body[:150]!r}")
            except (OSError, http.client.HTTPException) as e:
                record("http", type(e).__name__, f"{method} {path}", str(e))
            finally:
                conn.close()
        else:
            _, name, payload = item
            service = {
                "ModerateText": "TextModerationService",
                "ModerateImages": "ImageModerationService",
                "GenerateImages": "ImageGenerationService",
                "StreamGenerateImages": "ImageGenerationService",
                "Generate": "SafeGenerationService",
                "StreamGenerate": "SafeGenerationService",
                "ApplyGuardrail": "GuardrailService",
                "ListGuardrails": "GuardrailService",
            }[name]
            call = (gen_channel if name in internal else channel).unary_unary(
                f"/safegen.v1.{service}/{name}", request_serializer=None, response_deserializer=None
            )
            try:
                call(payload, timeout=args.timeout)
                record("raw", "OK", name, "")
            except grpc.RpcError as e:
                record("raw", e.code().name, name, e.details() or "")

    t0 = time.perf_counter()
    done = [0]

    def run(item):
        send(item)
        with lock:
            done[0] += 1
            if done[0] % 1000 == 0:
                print(f"  {done[0]} sent, {time.perf_counter() - t0:.0f} s", flush=True)

    try:
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(run, plan))
    finally:
        channel.close()
        if gen_channel is not channel:
            gen_channel.close()
        for proc in procs:
            stop_stack(proc)
    wall = time.perf_counter() - t0
    print(
        f"\n{len(plan)} requests in {wall:.0f} s ({len(plan) / wall:.0f}/s), concurrency {args.concurrency}, "
        f"seed {args.seed}"
    )
    by_rpc = ", ".join(f"{k} {v}" for k, v in sorted(per_rpc.items()))
    print(f"gRPC requests per RPC: {by_rpc}")
    for kind, title in (
        ("grpc", "gRPC status"),
        ("http", "HTTP status"),
        ("raw", "random bytes as the request (grpc's own statuses allowed)"),
    ):
        print(f"{title}:")
        for code, n in sorted(statuses[kind].items(), key=lambda kv: -kv[1]):
            print(f"  {code:24s} {n}")
    failures = sum(statuses["grpc"][c] for c in ("INTERNAL", "UNKNOWN")) + statuses["http"]["500"]
    print(f"INTERNAL/UNKNOWN/500: {failures}{' (target met)' if not failures else ''}")
    for line in bad:
        print("  " + line)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
