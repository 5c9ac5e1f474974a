"""Which shard scans which image: a stable hash of the image's name inside the dataset, modulo the shard count.

The hash is sha256 of the name relative to the dataset root (for S3, the key without the dataset
prefix), so a re-run, a resumed shard and a copy of the dataset in another bucket all agree, and the
partition never depends on listing order or on which other files exist. Shards are numbered from 0,
as Kubernetes numbers an Indexed Job's completions (JOB_COMPLETION_INDEX).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

#: More shards than this is a typo, not a plan (a Job's completions are limited to 100,000 as well).
MAX_SHARDS = 100_000


def shard_of(name: str, count: int) -> int:
    """The shard (0..count-1) that owns `name`."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: owns the names whose hash falls on it."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"shard count must be from 1 to {MAX_SHARDS}, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be from 0 to {self.count - 1} (shards count from 0), got {self.index}")

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    @property
    def tag(self) -> str:
        """The part of a journal or report name that says which shard wrote it: "shard-2-of-4"."""
        return f"shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """ "K/N" (K from 0 to N-1) -> Shard, with a message that says what was wrong."""
    index, sep, count = text.partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 0/4 for the first of four shards")
    return Shard(int(index), int(count))


def shard_from_env(env: Mapping[str, str]) -> Shard | None:
    """The shard of a Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX (set by Kubernetes) of
    JOB_COMPLETION_COUNT (set by the chart from the Job's completions); None outside such a Job."""
    index, count = env.get("JOB_COMPLETION_INDEX", ""), env.get("JOB_COMPLETION_COUNT", "")
    if not index and not count:
        return None
    if not index or not count:
        missing = "JOB_COMPLETION_COUNT" if index else "JOB_COMPLETION_INDEX"
        raise ValueError(
            f"{missing} is not set but {'JOB_COMPLETION_INDEX' if index else 'JOB_COMPLETION_COUNT'} "
            "is: set both (the chart sets JOB_COMPLETION_COUNT to the Job's completions), or pass --shard K/N"
        )
    if not index.isdigit() or not count.isdigit():
        raise ValueError(f"JOB_COMPLETION_INDEX={index!r} / JOB_COMPLETION_COUNT={count!r}: expected whole numbers")
    return Shard(int(index), int(count))
