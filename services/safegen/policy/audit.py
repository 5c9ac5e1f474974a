"""The audit log: one JSON line per guardrail decision, written by a background thread that never blocks a request.

Lines go to a file (appended) or stdout (SAFEGEN_AUDIT_LOG). A request only puts its record on a bounded
queue; when the queue is full the record is dropped and counted (safegen_audit_dropped_total), never
waited for. The line format is stable and documented in docs/guardrails.md ("Audit log").
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import IO, Any, Mapping

from prometheus_client import Counter

log = logging.getLogger("safegen.audit")

#: The format's version, the first field of every line; bumped only for an incompatible change.
FORMAT_VERSION = 1
MAX_REQUEST_ID = 128

WRITTEN = Counter("safegen_audit_lines_total", "Audit lines written")
DROPPED = Counter("safegen_audit_dropped_total", "Audit lines dropped because the writer's queue was full")
ERRORS = Counter("safegen_audit_errors_total", "Audit lines that could not be written (I/O errors)")

_STOP: dict[str, Any] = {}  # the writer thread stops on this very object (compared with `is`)


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def request_id(given: str = "") -> str:
    """The caller's request id (x-request-id) when it is printable and at most 128 characters, else a new one."""
    given = (given or "").strip()
    if given and len(given) <= MAX_REQUEST_ID and given.isprintable():
        return given
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """A bounded queue and one writer thread. `record` costs a dict and a put_nowait on the caller's thread."""

    def __init__(self, target: str, *, content: bool = False, queue_size: int = 10_000, stream: IO[str] | None = None):
        self.target = target
        self.content = content  # whether records may carry prompt text (images never: hashes only)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        if stream is not None:
            self._stream, self._owned = stream, False
        elif target == "stdout":
            self._stream, self._owned = sys.stdout, False
        else:
            # Opened at start, so a bad path stops the process with a clear message instead of losing lines.
            self._stream, self._owned = open(target, "a", encoding="utf-8"), True  # noqa: SIM115
        self._thread = threading.Thread(target=self._run, name="safegen-audit", daemon=True)
        self._thread.start()

    def record(self, entry: dict[str, Any]) -> None:
        """Queues one decision; never blocks. Adds the format version and the time when missing."""
        line = {"v": FORMAT_VERSION, "time": entry.pop("time", None) or now_iso(), **entry}
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            DROPPED.inc()

    def _run(self) -> None:
        warned = False
        while True:
            item = self._queue.get()
            if item is _STOP:
                try:
                    self._stream.flush()
                except (OSError, ValueError):
                    pass
                return
            try:
                self._stream.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
                if self._queue.empty():  # one flush per burst, not per line; idle means written
                    self._stream.flush()
                WRITTEN.inc()
            except (OSError, ValueError) as e:
                ERRORS.inc()
                if not warned:
                    log.error("audit log %s: cannot write (%s); counting safegen_audit_errors_total", self.target, e)
                    warned = True

    def close(self, timeout: float = 5.0) -> None:
        """Writes what is queued (up to `timeout` seconds), then stops the writer."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(_STOP, timeout=max(0.01, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._owned:
            self._stream.close()


_lock = threading.Lock()
_logs: dict[tuple[str, bool, int], AuditLog] = {}


def process_audit_log(env: Mapping[str, str] | None = None) -> AuditLog | None:
    """The audit log the SAFEGEN_AUDIT_* settings describe (None when off): one per target and options in a
    process, so the servicers of an all-in-one process share one writer."""
    from safegen.policy.settings import PolicySettings

    s = PolicySettings.from_env(env)
    if not s.audit_log:
        return None
    key = (s.audit_log, s.audit_content, s.audit_queue)
    with _lock:
        if key not in _logs:
            _logs[key] = AuditLog(s.audit_log, content=s.audit_content, queue_size=s.audit_queue)
        return _logs[key]


def close_all(timeout: float = 5.0) -> None:
    """Flushes and closes every audit log of the process (at shutdown, after the servers drained)."""
    with _lock:
        logs = list(_logs.values())
        _logs.clear()
    for a in logs:
        a.close(timeout)
