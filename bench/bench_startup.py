"""Time to SERVING of `safegen serve` (all-in-one or one service), and each start stage's share.

    python bench/bench_startup.py                      # all-in-one, 5 starts
    python bench/bench_startup.py text-moderation      # one service
    python bench/bench_startup.py image-moderation --runs 7

Each run starts a fresh process on free ports with SAFEGEN_LOG_FORMAT=json, waits for its `serving`
line, then stops it with SIGTERM. The stages come from the lifecycle lines (safegen.core.logging):
`starting` (the interpreter is up and the CLI imported), `loaded` per component (with its own ms;
components load concurrently, so their shares can add up to more than 100%), and `serving`.
Printed: every run's total, then per stage the median and its share of the median total.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ts(line: dict) -> float:
    return (
        datetime.strptime(line["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        .replace(tzinfo=__import__("datetime").timezone.utc)
        .timestamp()
    )


def one_start(service: str, timeout: float) -> dict[str, float]:
    """Stage durations in seconds for one start (keys: total, python+imports, each component, server)."""
    with tempfile.TemporaryDirectory() as d:
        ready, log = Path(d) / "ready.json", Path(d) / "serve.log"
        env = {**os.environ, "SAFEGEN_LOG_FORMAT": "json", "OMP_WAIT_POLICY": "PASSIVE"}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO / "services"), str(REPO / "gateway"), env.get("PYTHONPATH", "")])
        http = ["--http-port", "0"] if service in ("all", "gateway") else []
        with open(log, "w") as out:
            spawned = time.time()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "safegen.cli",
                    "serve",
                    service,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--metrics-port",
                    "0",
                    *http,
                    "--ready-file",
                    str(ready),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            deadline = time.monotonic() + timeout
            while not (ready.exists() and '"event": "serving"' in log.read_text()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve {service} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    events = [x for x in lines if "event" in x and "time" in x]
    starting = next(_ts(x) for x in events if x["event"] == "starting")
    serving = next(_ts(x) for x in events if x["event"] == "serving")
    stages = {"total": serving - spawned, "python + imports": starting - spawned}
    last_loaded = starting
    for x in events:
        if x["event"] == "loaded":
            stages[f"load {x['component']}"] = x["ms"] / 1000
            last_loaded = max(last_loaded, _ts(x))
    stages["server start"] = serving - last_loaded
    return stages


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("service", nargs="?", default="all")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=240)
    a = p.parse_args(argv)
    runs = []
    for i in range(a.runs):
        runs.append(one_start(a.service, a.timeout))
        print(f"run {i + 1}: {runs[-1]['total']:.2f} s to SERVING", flush=True)
    total = statistics.median(r["total"] for r in runs)
    print(
        f"\nsafegen serve {a.service}: median {total:.2f} s to SERVING over {a.runs} starts "
        f"(min {min(r['total'] for r in runs):.2f}, max {max(r['total'] for r in runs):.2f})"
    )
    for stage in runs[0]:
        if stage == "total":
            continue
        values = [r[stage] for r in runs if stage in r]
        m = statistics.median(values)
        print(f"  {stage:<28} {m:6.2f} s  {m / total:6.1%}")
    print("  (components load concurrently: their shares overlap)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
