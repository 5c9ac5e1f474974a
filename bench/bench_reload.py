"""Guardrail registry costs: a hot reload of a directory (parse, validate, embed denied topics, swap) and the
per-request lookup (one snapshot read), side by side for directories with and without topics.

    python bench/bench_reload.py [--files 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from safegen.policy import GuardrailRegistry
from safegen.text.moderator import TextModerator

EXAMPLE = Path(__file__).resolve().parents[1] / "services/safegen/policy/examples/everything.yaml"


class _NoBackend:
    name = "none"

    def assess(self, text, source):  # pragma: no cover - never called here
        raise AssertionError


def run(files: int, rounds: int, topics: bool) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    if not topics:
        doc.pop("topicPolicyConfig")
    with tempfile.TemporaryDirectory() as d:
        for i in range(files):
            (Path(d) / f"g{i}.yaml").write_text(yaml.safe_dump({**doc, "id": f"g{i}", "version": 1}))
        reg = GuardrailRegistry.load(d)
        mod = TextModerator(reg, _NoBackend())
        reg.add_preparer(mod.prepare)  # what the text service does: topics embedded before a guardrail serves
        times = []
        for r in range(rounds):
            for i in range(files):  # every file a new version: a full re-parse and re-embed
                (Path(d) / f"g{i}.yaml").write_text(yaml.safe_dump({**doc, "id": f"g{i}", "version": r + 2}))
            t0 = time.perf_counter()
            assert reg.reload_if_changed()
            times.append(time.perf_counter() - t0)
        assert all(reg.get(f"g{i}").version == rounds + 1 for i in range(files))
        gets = []
        for _ in range(20000):
            t0 = time.perf_counter()
            reg.get("g7", "")
            gets.append(time.perf_counter() - t0)
    gets.sort()
    print(
        f"{files} files{' with 4 topics each' if topics else ' without topics'}: reload p50 "
        f"{statistics.median(times) * 1000:.0f} ms ({statistics.median(times) / files * 1000:.1f} ms per file); "
        f"get() p50 {statistics.median(gets) * 1e6:.2f} us, p99 {gets[int(len(gets) * 0.99)] * 1e6:.2f} us"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=50)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    run(a.files, a.rounds, topics=False)
    run(a.files, a.rounds, topics=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
