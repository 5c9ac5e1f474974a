"""Prints the dataset scanner's own cost per image: journal, hashing, report, with moderation and storage stubbed.

A store of N tiny in-memory "images" and a moderation that answers at once, so what remains is the scan
loop itself (journal appends fsynced per batch, the sha256 index, the report). Run at two sizes: the time
per image should stay flat (it grew with the journal's size while the index was rebuilt per batch).

Usage: python bench/bench_scan_overhead.py [--sizes 5000 20000] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


class MemoryStore:
    """N names, each "image" its own name's bytes; the journal and report go to a temp folder."""

    def __init__(self, n: int, state: Path):
        self.n, self.label, self.state_dir, self.quarantine = n, "memory", state, None

    def files(self, keep=None):
        names = (f"images/{i:07d}.png" for i in range(self.n))
        return [(name, None, 10) for name in names if keep is None or keep(name)]

    def read(self, name: str) -> bytes:
        return name.encode()

    def info_bytes(self):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    from safegen.scan import scanner
    from safegen.scan.shard import Shard

    def moderate(batch):
        return [{"verdict": "SAFE"} for _ in batch]

    for n in args.sizes:
        for shard in (None, Shard(0, 4)):
            with tempfile.TemporaryDirectory() as d:
                store = MemoryStore(n, Path(d))
                opts = scanner.ScanOptions(progress=False, batch_size=args.batch_size, shard=shard)
                t0 = time.perf_counter()
                report = scanner.scan_dataset(store, moderate, None, opts)
                dt = time.perf_counter() - t0
            images = report["summary"]["images"]
            print(
                f"{n:>8,} names, {'shard 0/4' if shard else 'unsharded'}: {images:>7,} images in {dt:6.2f} s "
                f"= {dt / images * 1000:.3f} ms per image",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
