"""Prints the gateway's own overhead per request (total minus the three stages) at p50/p99.

Runs the embedded stack as `safegen serve` wires it (bundled model, default guardrail) and sends N safe
prompts through SafeGenerationService/Generate over real gRPC. For each request:
  gateway overhead = total - (prompt moderation + generation + image moderation)   (server-side)
  client overhead  = client round trip - server total                              (wire + (de)serialization)
  gateway own time = server total - time inside TextModerator.moderate, ImageModerator.moderate and
                     ImageGenerator.generate (the domain calls): every hop, conversion and the flow itself
and counts every protobuf (de)serialisation of a message that carries a generated PNG, inside the server
process and in the client, per generated image (SerializeToString/FromString/ParseFromString of every
safegen.v1 message are wrapped for the run; a message counts once per PNG it holds).
Usage: python bench/bench_gateway_overhead.py [-n 50] [--size 64] [--steps 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
import sys
from pathlib import Path


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))]


_PNG = b"\x89PNG\r\n\x1a\n"


class SerialisationCounter:
    """Wraps SerializeToString/FromString/ParseFromString of every safegen.v1 message class (before any
    stub or server exists, since grpc binds them at registration) and counts the PNGs each one moves,
    split between the client (this thread) and the server (every other thread)."""

    def __init__(self):
        import threading

        self.main = threading.main_thread()
        self.counts = {"server": 0, "client": 0}
        self.by_class: dict[str, int] = {}

    def _add(self, cls_name: str, data: bytes) -> None:
        import threading

        n = data.count(_PNG)
        if n:
            side = "client" if threading.current_thread() is self.main else "server"
            self.counts[side] += n
            self.by_class[cls_name] = self.by_class.get(cls_name, 0) + n

    def install(self) -> None:
        import importlib
        import pkgutil

        import safegen.v1

        counter = self
        for info in pkgutil.iter_modules(safegen.v1.__path__):
            if not info.name.endswith("_pb2"):
                continue
            mod = importlib.import_module(f"safegen.v1.{info.name}")
            for cls_name in mod.DESCRIPTOR.message_types_by_name:
                cls = getattr(mod, cls_name)
                ser, parse, from_string = cls.SerializeToString, cls.ParseFromString, cls.FromString

                def serialize(self, *a, _ser=ser, _name=cls_name, **k):
                    out = _ser(self, *a, **k)
                    counter._add(_name, out)
                    return out

                def parse_from(self, data, _parse=parse, _name=cls_name):
                    counter._add(_name, bytes(data))
                    return _parse(self, data)

                def from_str(data, _from=from_string, _name=cls_name):
                    counter._add(_name, bytes(data))
                    return _from(data)

                cls.SerializeToString = serialize
                cls.ParseFromString = parse_from
                cls.FromString = staticmethod(from_str)

    def reset(self) -> None:
        self.counts = {"server": 0, "client": 0}
        self.by_class = {}


class DomainClock:
    """Wraps the three domain calls the gateway makes and adds up the seconds spent inside them."""

    def __init__(self):
        self.seconds = 0.0

    def install(self) -> None:
        import functools

        from safegen.generation.generator import ImageGenerator
        from safegen.image.moderator import ImageModerator
        from safegen.text.moderator import TextModerator

        clock = self
        # The image service calls admit (cheap checks) then judge (decode + detect) instead of moderate; the
        # gateway calls the text moderator's moderate_with (the pinned guardrail), which moderate also calls.
        methods = [(TextModerator, "moderate_with" if hasattr(TextModerator, "moderate_with") else "moderate")] + (
            [(ImageModerator, "admit"), (ImageModerator, "judge")]
            if hasattr(ImageModerator, "judge")
            else [(ImageModerator, "moderate")]
        )
        for cls, name in methods:
            inner = getattr(cls, name)

            @functools.wraps(inner)
            def timed(self, *a, _inner=inner, **k):
                t0 = time.perf_counter()
                try:
                    return _inner(self, *a, **k)
                finally:
                    clock.seconds += time.perf_counter() - t0

            setattr(cls, name, timed)
        gen = ImageGenerator.generate

        @functools.wraps(gen)
        async def timed_generate(self, *a, **k):
            t0 = time.perf_counter()
            try:
                return await gen(self, *a, **k)
            finally:
                clock.seconds += time.perf_counter() - t0

        ImageGenerator.generate = timed_generate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=50)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()

    counter = SerialisationCounter()
    counter.install()  # before any stub or server binds the (de)serialisers
    domain = DomainClock()
    domain.install()

    import grpc

    from safegen.cli import SERVICES, build_servicers
    from safegen.policy import GuardrailRegistry

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's server helper
    from support import serve
    from safegen.v1 import safe_generation_pb2 as pb, safe_generation_pb2_grpc as pb_grpc

    servicers = build_servicers(SERVICES, GuardrailRegistry.load())
    with serve(*servicers) as port:
        stub = pb_grpc.SafeGenerationServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 96 << 20)])
        )
        prompts = [
            "a blue square on a yellow background",
            "a yellow circle on a blue background",
            "a white square on a red background",
            "a black triangle on a green background",
        ]
        stub.Generate(pb.GenerateRequest(prompt=prompts[0], width=args.size, height=args.size, steps=args.steps))
        rows = []
        counter.reset()
        images = 0
        for i in range(args.n):
            req = pb.GenerateRequest(
                prompt=prompts[i % len(prompts)], seed=i, width=args.size, height=args.size, steps=args.steps
            )
            domain.seconds = 0.0
            t0 = time.perf_counter()
            r = stub.Generate(req, timeout=120)
            rt = time.perf_counter() - t0
            images += sum(1 for img in r.images if img.data)
            t = r.timings
            stages = t.prompt_moderation_seconds + t.generation_seconds + t.image_moderation_seconds
            rows.append(
                (
                    t.total_seconds - stages,
                    rt - t.total_seconds,
                    t.total_seconds,
                    t.moderation_overhead_ratio,
                    t.prompt_moderation_seconds,
                    t.image_moderation_seconds,
                    t.generation_seconds,
                    t.total_seconds - domain.seconds,
                )
            )
    cols = list(zip(*rows))
    ms = lambda xs, q: f"{pct(xs, q) * 1000:8.2f}"  # noqa: E731
    print(f"requests: {args.n}, image {args.size}x{args.size}, {args.steps} steps, embedded stack, one process")
    print(f"{'metric':<34}{'p50 ms':>9}{'p99 ms':>9}")
    for name, xs in [
        ("gateway own time (total - domain)", cols[7]),
        ("gateway overhead (total - stages)", cols[0]),
        ("client wire + (de)serialization", cols[1]),
        ("prompt moderation", cols[4]),
        ("image moderation", cols[5]),
        ("generation", cols[6]),
        ("total (server)", cols[2]),
    ]:
        print(f"{name:<34}{ms(xs, 50)}{ms(xs, 99)}")
    per = {k: v / max(1, images) for k, v in counter.counts.items()}
    print(
        f"PNG (de)serialisations per generated image: server process {per['server']:.1f}, "
        f"client {per['client']:.1f} ({images} images)"
    )
    print("  by message: " + ", ".join(f"{k} {v / max(1, images):.1f}" for k, v in sorted(counter.by_class.items())))
    print(
        f"moderation overhead ratio: median {statistics.median(cols[3]):.1%} "
        f"(reference design: ~5% of a 15 s SageMaker generation)"
    )


if __name__ == "__main__":
    main()
