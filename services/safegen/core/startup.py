"""Loading a process's independent components at start: concurrently, each timed by a lifecycle line.

Model loading is mostly native code that releases the GIL (onnxruntime session creation, torch reading
weights), and the import of the diffusion stack, which does not, overlaps with it: the text and image
models load while diffusers imports. A failure stops the start with the first error, after every other
load has finished (a thread cannot be cancelled halfway through loading a model).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from safegen.core.logging import Stopwatch

T = TypeVar("T")

log = logging.getLogger("safegen.serve")


def load_concurrently(jobs: Mapping[str, Callable[[], T]], logger: logging.Logger = log) -> dict[str, T]:
    """Runs every job in its own thread (the first in this one) and returns their results by name.

    Each job logs `loading NAME` and `loaded NAME in N ms`. Modules both jobs import are imported once
    (Python's per-module import locks); a rare concurrent circular import that Python refuses
    (a deadlock it detects) is retried alone after the others finished.
    """
    names = list(jobs)
    results: dict[str, T] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str) -> None:
        try:
            with Stopwatch(logger, name):
                results[name] = jobs[name]()
        except BaseException as e:  # re-raised in the caller's thread below
            errors[name] = e

    if len(names) <= 1:
        for name in names:
            run(name)
    else:
        # numpy is imported by every model library: importing it first keeps the threads' import graphs apart.
        import numpy  # noqa: F401

        threads = [threading.Thread(target=run, args=(n,), name=f"load-{n}", daemon=True) for n in names[1:]]
        for t in threads:
            t.start()
        run(names[0])
        for t in threads:
            t.join()
        for name in [n for n, e in errors.items() if type(e).__name__ == "_DeadlockError"]:
            logger.debug("retrying %s alone after a concurrent import deadlock", name)
            del errors[name]
            run(name)
    for name in names:
        if name in errors:
            raise errors[name]
    return {name: results[name] for name in names}
