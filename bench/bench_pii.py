"""Sensitive-information scan cost per prompt: every built-in PII type plus one custom regex, on real prompts
(SD Discord prompts from the shared data) and on a 10,000-character text (the ModerateText limit).
Also reports how many real prompts match anything (false positives, mostly: prompts rarely hold PII).

    python bench/bench_pii.py [--n 5000] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import random
import statistics
import time
from collections import Counter
from pathlib import Path

from safegen.policy.pii import SUPPORTED_PII_TYPES, find_sensitive, parse_sensitive_policy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    a = p.parse_args()
    rules = parse_sensitive_policy(
        {
            "piiEntitiesConfig": [{"type": t, "action": "ANONYMIZE"} for t in SUPPORTED_PII_TYPES],
            "regexesConfig": [{"name": "ORDER_ID", "pattern": r"\bORD-\d{6,10}\b", "action": "ANONYMIZE"}],
        },
        "bench",
    )
    with gzip.open(Path(a.shared) / "sd_discord_prompts" / "prompts.txt.gz", "rt", encoding="utf-8") as f:
        prompts = [ln.strip() for ln in f if ln.strip()]
    prompts = random.Random(5).sample(prompts, min(a.n, len(prompts)))
    costs, hits = [], Counter()
    for t in prompts:
        t0 = time.perf_counter()
        found = find_sensitive(t, rules, output=False)
        costs.append(time.perf_counter() - t0)
        for m in {m.name for m in found}:
            hits[m] += 1
    costs.sort()
    print(
        f"{len(rules)} rules on {len(prompts)} Discord prompts (median {statistics.median(map(len, prompts)):.0f} chars): "
        f"p50 {statistics.median(costs) * 1e6:.0f} us, p99 {costs[int(len(costs) * 0.99)] * 1e6:.0f} us"
    )
    flagged = sum(1 for t in prompts if find_sensitive(t, rules, output=False))
    print(f"prompts with any match: {flagged} ({flagged / len(prompts):.2%}); by type: {dict(hits.most_common())}")
    long = (" ".join(prompts))[:10_000]
    reps = []
    for _ in range(20):
        t0 = time.perf_counter()
        find_sensitive(long, rules, output=False)
        reps.append(time.perf_counter() - t0)
    print(f"10,000 characters: p50 {statistics.median(reps) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
