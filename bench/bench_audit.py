"""Audit log cost on the request path (building a line from a Generate response; queueing it) and how many
lines per second the writer thread sustains to a file.

    python bench/bench_audit.py [--n 20000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from safegen.core import audit_pb
from safegen.policy.audit import AuditLog
from safegen.v1 import common_pb2 as c, safe_generation_pb2 as pb


def response() -> tuple[pb.GenerateRequest, pb.GenerateResponse]:
    req = pb.GenerateRequest(prompt="portrait of an elf princess, intricate, highly detailed, artstation " * 3)
    filters = [
        c.FilterResult(
            category=k,
            score=0.1,
            confidence=c.CONFIDENCE_NONE,
            filter_strength=c.FILTER_STRENGTH_HIGH,
            action=c.POLICY_ACTION_NONE,
        )
        for k in range(1, 7)
    ]
    resp = pb.GenerateResponse(
        action=c.ACTION_NONE,
        guardrail_id="default",
        guardrail_version="DRAFT",
        prompt_assessment=pb.PromptAssessment(action=c.ACTION_NONE, filters=filters),
    )
    resp.images.add(data=b"\x89PNG" + bytes(300_000), attempt=1, action=c.ACTION_NONE, filters=filters[:5])
    return req, resp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    a = p.parse_args()
    req, resp = response()
    costs = []
    lines_in = []
    for i in range(a.n):
        t0 = time.perf_counter()
        lines_in.append(audit_pb.generate_record(req, resp, f"r{i}", 0.5, False))
        costs.append(time.perf_counter() - t0)
    puts = []
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "audit.jsonl"
        log = AuditLog(str(path), queue_size=a.n + 10)
        t_all = time.perf_counter()
        for line in lines_in:
            t0 = time.perf_counter()
            log.record(line)
            puts.append(time.perf_counter() - t0)
        log.close(timeout=120)
        total = time.perf_counter() - t_all
        lines = len(path.read_text().splitlines())
        size = path.stat().st_size
    puts.sort()
    print(
        f"record() itself (queue put): p50 {statistics.median(puts) * 1e6:.1f} us, "
        f"p99 {puts[int(len(puts) * 0.99)] * 1e6:.1f} us"
    )
    costs.sort()
    print(
        f"building the line from a Generate response (one 300 KB image hashed): p50 {statistics.median(costs) * 1e6:.0f} us, "
        f"p99 {costs[int(len(costs) * 0.99)] * 1e6:.0f} us over {a.n} calls"
    )
    print(
        f"writer: {lines} lines ({size / lines:.0f} bytes each) to a file in {total:.2f}s = {lines / total:,.0f} lines/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
