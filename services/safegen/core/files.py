"""Atomic file replacement, so a reader (or a kill) sees either the old file or the whole new one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp", mode: int | None = None) -> Iterator[Path]:
    """Yields a temporary path beside `path` for the caller to write. When the block ends normally the
    file gets `mode` (if given: mkstemp creates 0600) and replaces `path`; when it raises, the temporary
    file is removed and `path` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes `data` to `path` durably (file and directory fsynced) and atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(d: str | os.PathLike[str]) -> None:
    """Makes a rename in `d` durable; a no-op where directories cannot be opened or synced."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
