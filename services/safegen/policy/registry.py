"""GuardrailRegistry: every version of every guardrail in one immutable snapshot, swapped atomically on hot reload.

Requests read the snapshot once (one attribute read) and keep the Guardrail they got, so a request
never sees a half-loaded guardrail. A reload parses and prepares everything first (services register
preparers, e.g. embedding denied topics) and only then replaces the snapshot. A file that does not
parse, a numbered version whose content changed, or a file that conflicts with another is refused
with a log line naming the file and key, counted in safegen_guardrail_reload_errors_total, and what
was serving from that file keeps serving.

The directory is polled (content hashes, not mtimes alone): a Kubernetes ConfigMap update swaps the
`..data` symlink, and the scan reads every file through one resolution of it, so it sees the old set
or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import yaml
from prometheus_client import Counter, Gauge

from safegen.errors import InvalidArgument, NotFound
from safegen.policy.guardrail import (
    DRAFT,
    Guardrail,
    GuardrailConfigError,
    builtin_guardrail_files,
    load_guardrail_file,
    parse_guardrail,
)

log = logging.getLogger("safegen.policy")

RELOAD_ERRORS = Counter(
    "safegen_guardrail_reload_errors_total",
    "Guardrail files refused by a reload (what was serving keeps serving), by reason",
    ["reason"],
)
RELOADS = Counter("safegen_guardrail_reloads_total", "Guardrail directory changes applied", ["result"])
LOADED = Gauge("safegen_guardrail_versions", "Guardrail versions currently serving")
for _r in ("invalid", "immutable", "conflict", "prepare", "default"):
    RELOAD_ERRORS.labels(_r)

#: How often the directory is scanned; a changed file serves within this plus the parse time.
DEFAULT_POLL_SECONDS = 1.0

Preparer = Callable[[Guardrail], None]


def parse_version(value: str) -> int | None:
    """A request's guardrail_version: empty or DRAFT = the highest version (None), else a positive number."""
    v = (value or "").strip()
    if not v or v.upper() == DRAFT:
        return None
    # ASCII digits only: str.isdigit() is also true for "³" or "①", which int() refuses (bench/fuzz.py found
    # it as an INTERNAL error from every RPC that takes a guardrail_version).
    if not (v.isascii() and v.isdigit()) or int(v) < 1:
        raise InvalidArgument(f"guardrail_version must be empty, DRAFT or a positive integer; got {value!r}")
    return int(v)


@dataclass(frozen=True)
class _Snapshot:
    versions: dict[str, tuple[Guardrail, ...]]  # id -> versions, ascending (a draft is version 0)
    default_id: str


def _is_guardrail_file(p: Path) -> bool:
    return not p.name.startswith(".") and p.suffix in (".yaml", ".yml")


def read_directory(directory: Path) -> dict[str, bytes]:
    """Every guardrail file of a directory, read through one resolution of a ConfigMap's `..data` link."""
    root = directory
    data = directory / "..data"
    if data.is_symlink() or data.is_dir():
        root = Path(os.path.realpath(data))
    out = {}
    for p in sorted(root.iterdir()):
        if _is_guardrail_file(p) and p.is_file():
            # Report the path operators know (the mounted directory), not the timestamped target.
            out[str(directory / p.name)] = p.read_bytes()
    return out


class GuardrailRegistry:
    """The guardrails a process knows: the built-in ones plus any in a configured directory, every version."""

    def __init__(
        self,
        guardrails: Iterable[Guardrail],
        default_id: str = "default",
        *,
        directory: str | Path | None = None,
        builtins: Iterable[Guardrail] = (),
        later_wins: bool = True,
    ):
        """`guardrails` with the same id and version: the later one wins (later_wins) or it is an error."""
        self._reload_lock = threading.Lock()  # serialises reloads; readers never take it
        self._preparers: list[Preparer] = []
        self._directory = Path(directory) if directory else None
        self._builtins = list(builtins)
        self._by_path: dict[str, Guardrail] = {}  # last good parse of each directory file
        self._published: dict[tuple[str, int], str] = {}  # numbered versions ever served -> digest
        self._fingerprint = ""
        self._last_rescan = 0.0
        self._watch_stop: threading.Event | None = None
        self._watcher: threading.Thread | None = None
        gs = list(guardrails)
        for g in gs:
            if g.path:
                self._by_path[g.path] = g
        snap, errors = self._assemble(gs, None, default_id, dedupe_later_wins=later_wins)
        if errors:
            raise GuardrailConfigError("; ".join(msg for _, msg in errors))
        assert snap is not None  # _assemble returns a snapshot whenever it found no errors
        self._swap(snap)

    # ------------------------------------------------------------------------------------------ load
    @classmethod
    def load(cls, directory: str | Path | None = None, default_id: str = "default") -> "GuardrailRegistry":
        """Built-in guardrails plus the directory's files; any bad file stops the process (at start)."""
        builtins = [load_guardrail_file(p) for p in builtin_guardrail_files()]
        own: list[Guardrail] = []
        if directory:
            d = Path(directory)
            if not d.is_dir():
                raise GuardrailConfigError(f"guardrail directory {d} does not exist")
            for path, raw in read_directory(d).items():
                own.append(_parse(path, raw))
        ids = {g.id for g in own}
        reg = cls(
            [g for g in builtins if g.id not in ids] + own,
            default_id,
            directory=directory,
            builtins=builtins,
            later_wins=False,
        )
        if directory:
            reg._fingerprint = _fingerprint(read_directory(Path(directory)))
        return reg

    # ----------------------------------------------------------------------------------------- reads
    @property
    def default_id(self) -> str:
        return self._snap.default_id

    def get(self, guardrail_id: str = "", version: str = "") -> Guardrail:
        """The guardrail a request names: NotFound lists the known ids, or the known versions."""
        wanted = parse_version(version)
        snap = self._snap
        gid = guardrail_id or snap.default_id
        versions = snap.versions.get(gid)
        if versions is None:
            raise NotFound(f"guardrail {gid!r} not found; known guardrails: {', '.join(sorted(snap.versions))}")
        if wanted is None:
            return versions[-1]
        for g in versions:
            if g.version == wanted:
                return g
        if self._rescan_on_miss():  # another replica may already serve it: look once before saying no
            return self.get(guardrail_id, version)
        known = ", ".join(g.version_name for g in versions)
        raise NotFound(f"guardrail {gid!r} has no version {wanted}; known versions: {known}")

    def versions(self, guardrail_id: str) -> tuple[Guardrail, ...]:
        return self._snap.versions.get(guardrail_id, ())

    def all(self) -> list[Guardrail]:
        """The highest version of every guardrail, default first."""
        snap = self._snap
        return [snap.versions[snap.default_id][-1]] + [
            vs[-1] for k, vs in sorted(snap.versions.items()) if k != snap.default_id
        ]

    def all_versions(self) -> list[Guardrail]:
        snap = self._snap
        return [g for k in [snap.default_id] + sorted(set(snap.versions) - {snap.default_id}) for g in snap.versions[k]]

    # ------------------------------------------------------------------------------------ preparers
    def add_preparer(self, prepare: Preparer) -> None:
        """Runs `prepare` on every serving guardrail now (errors propagate: the process stops at start) and
        on every guardrail a reload brings, before it serves (errors refuse that file)."""
        with self._reload_lock:
            for g in self.all_versions():
                prepare(g)
                g.prepared["_ready"] = True
            self._preparers.append(prepare)

    def _prepare(self, g: Guardrail) -> None:
        if g.prepared.get("_ready"):
            return
        for p in self._preparers:
            p(g)
        g.prepared["_ready"] = True

    # -------------------------------------------------------------------------------------- reloads
    def reload(self) -> list[str]:
        """Rescans the directory now and swaps in what loads; returns the refusal messages (also logged)."""
        if self._directory is None:
            return []
        with self._reload_lock:
            try:
                files = read_directory(self._directory)
            except OSError as e:
                self._refuse("invalid", f"{self._directory}: cannot read the guardrail directory: {e}")
                return [str(e)]
            self._fingerprint = _fingerprint(files)
            return self._apply(files)

    def reload_if_changed(self) -> bool:
        """One poll: reloads when any file's name or content changed since the last scan."""
        if self._directory is None:
            return False
        try:
            files = read_directory(self._directory)
        except OSError as e:
            log.warning("guardrail directory %s unreadable (%s); keeping what serves", self._directory, e)
            return False
        fp = _fingerprint(files)
        if fp == self._fingerprint:
            return False
        with self._reload_lock:
            if fp == self._fingerprint:
                return False
            self._fingerprint = fp
            self._apply(files)
        return True

    def _rescan_on_miss(self) -> bool:
        now = time.monotonic()
        if self._directory is None or now - self._last_rescan < 1.0:
            return False
        self._last_rescan = now
        return self.reload_if_changed()

    def _apply(self, files: dict[str, bytes]) -> list[str]:
        errors: list[tuple[str, str]] = []
        old_by_path = self._by_path
        new_by_path: dict[str, Guardrail] = {}
        for path, raw in files.items():
            try:
                g = _parse(path, raw)
            except GuardrailConfigError as e:
                errors.append(("invalid", f"{e}"))
                if path in old_by_path:
                    new_by_path[path] = old_by_path[path]
                continue
            key = (g.id, g.version)
            if g.version and self._published.get(key, g.digest) != g.digest:
                errors.append(
                    (
                        "immutable",
                        f"{path}: version: guardrail {g.id!r} version {g.version} already "
                        f"serves with different content; versions are immutable, so publish "
                        f"the change as a new version",
                    )
                )
                if path in old_by_path:
                    new_by_path[path] = old_by_path[path]
                continue
            old = old_by_path.get(path)
            new_by_path[path] = old if old is not None and old.digest == g.digest and old.version == g.version else g
        ids = {g.id for g in new_by_path.values()}
        candidates = [g for g in self._builtins if g.id not in ids] + list(new_by_path.values())
        snap, conflicts = self._assemble(candidates, old_by_path, self._snap.default_id)
        errors += conflicts
        ready = []
        for g in (g for vs in snap.versions.values() for g in vs) if snap else ():
            try:
                self._prepare(g)
                ready.append(g)
            except Exception as e:  # noqa: BLE001 - a preparer's failure refuses the file, never the process
                errors.append(("prepare", f"{g.path or g.id}: cannot prepare guardrail {g.id!r}: {e}"))
        if snap is not None and len(ready) != sum(len(v) for v in snap.versions.values()):
            keep = {id(g) for g in ready}
            # A file that failed to prepare falls back to what it served before, if anything (and is
            # remembered as that, so the next reload of another file does not drop it).
            for path, g in list(new_by_path.items()):
                if id(g) not in keep and not g.prepared.get("_ready"):
                    if path in old_by_path:
                        new_by_path[path] = old_by_path[path]
                        ready.append(old_by_path[path])
                    else:
                        del new_by_path[path]
            snap, more = self._assemble(ready, old_by_path, self._snap.default_id)
            errors += more
        for reason, msg in errors:
            self._refuse(reason, msg)
        if snap is None:
            RELOADS.labels("refused").inc()
            return [m for _, m in errors]
        self._by_path = {
            p: g for p, g in new_by_path.items() if any(g is x for vs in snap.versions.values() for x in vs)
        }
        before = {(g.id, g.version, g.digest) for g in self.all_versions()}
        self._swap(snap)
        after = {(g.id, g.version, g.digest) for g in self.all_versions()}
        RELOADS.labels("ok" if not errors else "partial").inc()
        if before != after:
            log.info("guardrails reloaded: %s", ", ".join(f"{g.id}@{g.version_name}" for g in self.all_versions()))
        return [m for _, m in errors]

    def _assemble(
        self,
        candidates: list[Guardrail],
        old_by_path: dict[str, Guardrail] | None,
        default_id: str,
        dedupe_later_wins: bool = False,
    ) -> tuple[_Snapshot | None, list[tuple[str, str]]]:
        """Groups candidates into a snapshot. Conflicts (two files with one id and version; a draft next to
        numbered versions) keep what served before and refuse the newcomer. Returns (snapshot|None, errors)."""
        errors: list[tuple[str, str]] = []
        served = {id(g) for g in (old_by_path or {}).values()}
        by_key: dict[tuple[str, int], Guardrail] = {}
        for g in candidates:
            key = (g.id, g.version)
            other = by_key.get(key)
            if other is None or dedupe_later_wins:
                by_key[key] = g
                continue
            keep, drop = (other, g) if id(other) in served or id(g) not in served else (g, other)
            by_key[key] = keep
            errors.append(
                (
                    "conflict",
                    f"{drop.path}: id: guardrail {g.id!r} version {g.version_name} is also "
                    f"defined by {keep.path}; each id and version must come from one file",
                )
            )
        grouped: dict[str, list[Guardrail]] = {}
        for (gid, _), g in by_key.items():
            grouped.setdefault(gid, []).append(g)
        versions: dict[str, tuple[Guardrail, ...]] = {}
        for gid, gs in grouped.items():
            drafts = [g for g in gs if not g.version]
            numbered = sorted((g for g in gs if g.version), key=lambda g: g.version)
            if drafts and numbered:
                for d in drafts:
                    errors.append(
                        (
                            "conflict",
                            f"{d.path}: version: guardrail {gid!r} has numbered versions "
                            f"({', '.join(str(g.version) for g in numbered)}) and this file has "
                            f"none; give it `version: N`",
                        )
                    )
                gs = numbered
            else:
                gs = drafts or numbered
            versions[gid] = tuple(gs)
        if default_id not in versions:
            errors.append(("default", f"default guardrail {default_id!r} is not loaded; known: {sorted(versions)}"))
            return None, errors
        return _Snapshot(versions, default_id), errors

    def _swap(self, snap: _Snapshot) -> None:
        for vs in snap.versions.values():
            for g in vs:
                if g.version:
                    self._published[(g.id, g.version)] = g.digest
        self._snap = snap  # the one write readers see: a single reference assignment
        LOADED.set(sum(len(v) for v in snap.versions.values()))

    @staticmethod
    def _refuse(reason: str, message: str) -> None:
        RELOAD_ERRORS.labels(reason).inc()
        log.error("guardrail refused (%s): %s; what was serving keeps serving", reason, message)

    # -------------------------------------------------------------------------------------- watcher
    def start_watching(self, interval: float = DEFAULT_POLL_SECONDS) -> None:
        """Polls the directory every `interval` seconds in a daemon thread (no-op without a directory)."""
        if self._directory is None or self._watcher is not None or interval <= 0:
            return
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval):
                try:
                    self.reload_if_changed()
                except Exception:  # noqa: BLE001 - the watcher must survive anything a file can do
                    log.exception("guardrail reload failed; keeping what serves")

        self._watch_stop = stop
        self._watcher = threading.Thread(target=run, name="safegen-guardrail-reload", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        if self._watcher is not None and self._watch_stop is not None:
            self._watch_stop.set()
            self._watcher.join(timeout=5)
            self._watcher = None


def _parse(path: str, raw: bytes) -> Guardrail:
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise GuardrailConfigError(f"{path}: cannot read guardrail: {e}") from None
    return parse_guardrail(doc, path, Path(path).stem)


def _fingerprint(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for path, raw in sorted(files.items()):
        h.update(path.encode() + b"\0" + hashlib.sha256(raw).digest())
    return h.hexdigest()
