"""load_concurrently: components load at the same time, each with its lifecycle lines; failures surface."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from safegen.core.startup import load_concurrently


def test_jobs_run_at_the_same_time_and_results_keep_their_names(caplog):
    barrier = threading.Barrier(3, timeout=10)  # only passes when all three run at once

    def job(value):
        def run():
            barrier.wait()
            return value

        return run

    with caplog.at_level(logging.INFO, logger="safegen.serve"):
        got = load_concurrently({"text-moderation": job(1), "image-moderation": job(2), "image-generation": job(3)})
    assert got == {"text-moderation": 1, "image-moderation": 2, "image-generation": 3}
    assert list(got) == ["text-moderation", "image-moderation", "image-generation"]
    events = [(r.event, r.component) for r in caplog.records if hasattr(r, "event")]
    assert sorted(events) == sorted([(e, c) for c in got for e in ("loading", "loaded")])


def test_the_first_failure_is_raised_after_every_load_finished(caplog):
    finished = []

    def slow():
        time.sleep(0.3)
        finished.append("slow")
        return "ok"

    def broken():
        raise FileNotFoundError("weights missing")

    with pytest.raises(FileNotFoundError, match="weights missing"):
        load_concurrently({"image-moderation": broken, "image-generation": slow})
    assert finished == ["slow"]
    assert any(getattr(r, "event", "") == "load_failed" for r in caplog.records)


def test_a_detected_import_deadlock_is_retried_alone():
    calls = []

    class _DeadlockError(RuntimeError):
        pass

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise _DeadlockError("deadlock detected by _ModuleLock('torch')")
        return "loaded"

    assert load_concurrently({"a": lambda: 0, "b": flaky}) == {"a": 0, "b": "loaded"}
    assert len(calls) == 2
