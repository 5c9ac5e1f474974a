"""The scan journal: append-only JSON lines, one per scanned image or action, so a killed scan resumes.

Two places can hold it: a local file (fsynced per batch) or, for shards of a Kubernetes Job that must
survive their pod, an s3:// prefix where each flush is one new object (S3 has no append).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Iterable

JOURNAL_FILE = ".safegen_scan_journal.jsonl"


def journal_name(tag: str = "") -> str:
    """The journal of an unsharded scan, or of one shard (tag "shard-2-of-4"): one journal per shard, so
    shards never write to the same file and each resumes from its own."""
    return JOURNAL_FILE if not tag else f".safegen_scan_journal.{tag}.jsonl"


def _parse_lines(data: bytes) -> list[dict]:
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # the torn tail of a killed run; that image is simply scanned again
    return out


class Journal:
    """Append-only JSON lines, one per scanned image or action; a torn last line (kill mid-write) is ignored."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._load(_parse_lines(self.path.read_bytes()) if self.path.exists() else [])
        self._f = open(self.path, "ab")

    def _load(self, entries: list[dict]) -> None:
        self.entries: list[dict] = []
        self._scanned: dict[str, dict] = {}
        self._index(entries)

    def _index(self, entries: Iterable[dict]) -> None:
        # Kept up to date on every append: rebuilding it per batch made a shard of 250,000 images quadratic.
        for e in entries:
            self.entries.append(e)
            if e.get("kind") == "image":
                self._scanned[e["sha256"]] = e

    def append(self, entries: Iterable[dict], durable: bool = True) -> None:
        """Appends and fsyncs (a local fsync is cheap: every append is durable, whatever `durable` says)."""
        entries = list(entries)
        for e in entries:
            self._f.write((json.dumps(e, ensure_ascii=False) + "\n").encode("utf-8"))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._index(entries)

    def close(self) -> None:
        self._f.close()

    def scanned(self) -> dict[str, dict]:
        """sha256 -> latest scan result (a live view: later appends show up in it)."""
        return self._scanned


class S3Journal(Journal):
    """The journal as numbered segment objects under an s3:// prefix, read back in key order.

    Scan results are buffered and written as one segment every FLUSH_SECONDS or FLUSH_ENTRIES (a PUT per
    batch would cost a GET per batch on resume): a killed shard loses at most that much work, which it
    redoes. Actions (moves, deletes) are written at once (`durable=True`), so the journal never forgets a
    file it moved. Segment names carry a random suffix: a shard that Kubernetes runs twice at once
    cannot overwrite the other's segments.
    """

    FLUSH_SECONDS = 5.0
    FLUSH_ENTRIES = 256

    def __init__(self, client, bucket: str, prefix: str, call=None):
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self._call = call or (lambda what, fn, **kw: fn(**kw))
        self.path = Path(f"s3://{bucket}/{prefix}")
        self._load([])
        keys = []
        pages = self._call(
            "ListObjectsV2",
            lambda **kw: list(client.get_paginator("list_objects_v2").paginate(**kw)),
            Bucket=bucket,
            Prefix=prefix,
        )
        for page in pages:
            keys += [o["Key"] for o in page.get("Contents", [])]
        for key in sorted(keys):
            body = self._call("GetObject", client.get_object, Bucket=bucket, Key=key)["Body"].read()
            self._index(_parse_lines(body))
        self._seq = len(keys)
        self._buf: list[dict] = []
        self._last = time.monotonic()

    def append(self, entries: Iterable[dict], durable: bool = False) -> None:
        entries = list(entries)
        self._index(entries)
        self._buf += entries
        if durable or len(self._buf) >= self.FLUSH_ENTRIES or time.monotonic() - self._last >= self.FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            body = b"".join((json.dumps(e, ensure_ascii=False) + "\n").encode("utf-8") for e in self._buf)
            key = f"{self.prefix}{self._seq:010d}-{uuid.uuid4().hex[:8]}.jsonl"
            self._call("PutObject", self.client.put_object, Bucket=self.bucket, Key=key, Body=body)
            self._seq += 1
            self._buf = []
        self._last = time.monotonic()

    def close(self) -> None:
        self.flush()
