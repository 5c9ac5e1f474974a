"""The scan journal: append-only JSON lines, one per scanned image or action, so a killed scan resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

JOURNAL_FILE = ".safegen_scan_journal.jsonl"


class Journal:
    """Append-only JSON lines, one per scanned image or action; a torn last line (kill mid-write) is ignored."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: list[dict] = []
        if self.path.exists():
            with open(self.path, "rb") as f:
                for line in f:
                    try:
                        self.entries.append(json.loads(line))
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        continue  # the torn tail of a killed run; that image is simply scanned again
        self._f = open(self.path, "ab")

    def append(self, entries: Iterable[dict]) -> None:
        for e in entries:
            self._f.write((json.dumps(e, ensure_ascii=False) + "\n").encode("utf-8"))
            self.entries.append(e)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()

    def scanned(self) -> dict[str, dict]:
        """sha256 -> latest scan result."""
        return {e["sha256"]: e for e in self.entries if e.get("kind") == "image"}
