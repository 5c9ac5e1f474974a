"""Benchmark: what admitting one call costs (Guard.authenticate + admit + release), with and without API keys.

The gRPC interceptor and the HTTP middleware run this once per call; compare with PERF.md's 160-200 us
of server CPU per trivial grpc.aio call.

    python bench/bench_auth.py [--keys 100] [--n 50000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import timeit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--n", type=int, default=50_000)
    args = ap.parse_args()

    from safegen.core.auth import Guard, KeyStore, hash_key

    path = os.path.join(tempfile.mkdtemp(prefix="safegen-bench-auth-"), "keys.yaml")
    with open(path, "w") as f:
        f.write(
            "keys:\n"
            + "".join(
                f"  - id: k{i}\n    sha256: {hash_key(f'sk-{i}')}\n"
                f"    rate: {{requests_per_second: 1000000, burst: 1000000}}\n"
                for i in range(args.keys)
            )
        )
    keyed, open_guard = Guard(KeyStore(path)), Guard(None)
    service = "safegen.v1.GuardrailService"
    key = f"Bearer sk-{args.keys // 2}"

    def with_key():
        keyed.admit(keyed.authenticate(key), service).release()

    def without_keys():
        open_guard.admit(open_guard.authenticate(None), service).release()

    for name, fn in ((f"{args.keys} keys, Bearer key with a rate", with_key), ("no keys file", without_keys)):
        best = min(timeit.repeat(fn, number=args.n, repeat=5)) / args.n * 1e6
        print(f"{name}: {best:.2f} us per call (best of 5 x {args.n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
