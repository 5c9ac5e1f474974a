"""The scan loop: list a store, skip what the journal knows, moderate the rest in batches, act, report.

Results go to the journal as they come (flushed and fsynced per batch), so a scan killed midway resumes
where it stopped: files whose sha256 (or, on S3, whose key and ETag) is already journaled are skipped.
The report and any rewritten dataset_info.json are written atomically. By default the scan only
reports; a quarantine moves unsafe images out and rewrites dataset_info.json; nothing is deleted unless
delete_unsafe is set.

A shard (opts.shard) scans only the images it owns (safegen.scan.shard), keeps its own journal, writes
its own report and leaves dataset_info.json alone: shards run at the same time, so the one rewrite is
done by the merge (safegen.scan.merge) from every shard's report.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from safegen.scan.journal import Journal, journal_name
from safegen.scan.moderation import ModerateImages, ModerateText, invalid
from safegen.scan.report import atomic_write_json, build_report, json_bytes, rewrite_info
from safegen.scan.shard import Shard
from safegen.scan.state import LocalState, S3State
from safegen.scan.stores import INFO_FILE, MAX_READ_BYTES, REPORT_FILE, REPORT_PREFIX, LocalStore, quarantine_label


@dataclass
class ScanOptions:
    quarantine: "Path | str | None" = None
    delete_unsafe: bool = False
    batch_size: int = 8
    report: Path | None = None
    progress: bool = True
    #: Scan only this shard's images (None: all of them).
    shard: Shard | None = None
    #: Where the journal and report go (None: a LocalState in the store's state_dir).
    state: "LocalState | S3State | None" = None


def shard_report_name(shard: Shard) -> str:
    return f"{REPORT_PREFIX}.{shard.tag}.json"


def report_location(store, opts: ScanOptions) -> str:
    """Where scan_dataset writes (or wrote) its report, for messages."""
    if opts.report and not opts.shard:
        return str(opts.report)
    state = opts.state or LocalState(store.state_dir)
    return state.where(shard_report_name(opts.shard) if opts.shard else REPORT_FILE)


def scan_dataset(
    source,
    moderate_images: ModerateImages,
    moderate_text: ModerateText | None,
    opts: ScanOptions,
    backend: "str | Callable[[], str]" = "",
    guardrail_id: str = "",
) -> dict:
    """Scans a dataset (a folder path, or a LocalStore/S3Store), acts per `opts`, writes the report."""
    if opts.quarantine and opts.delete_unsafe:
        raise ValueError("choose either --quarantine DIR or --delete-unsafe, not both")
    if opts.shard and opts.report:
        raise ValueError(
            "a shard writes its report to the state folder, where --merge finds it: "
            "give --report to the --merge run instead"
        )
    store = source if hasattr(source, "files") else LocalStore(Path(source), opts.quarantine)
    raw = store.info_bytes()
    info = None
    if raw is not None:
        try:
            info = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{store.label}/{INFO_FILE}: not valid JSON: {e}") from None
    state = opts.state or LocalState(store.state_dir)
    journal = state.journal(journal_name(opts.shard.tag if opts.shard else ""))
    try:
        return _scan(store, raw, info, moderate_images, moderate_text, opts, journal, backend, guardrail_id, state)
    finally:
        journal.close()


def _scan(store, raw_info, info, moderate_images, moderate_text, opts, journal, backend, guardrail_id, state) -> dict:
    files = store.files(opts.shard.owns) if opts.shard else store.files()
    by_version = {
        (e["file"], e["version"]): e for e in journal.entries if e.get("kind") == "image" and e.get("version")
    }
    sha_of: dict[str, str] = {}
    todo = []
    for name, version, size in files:
        known = by_version.get((name, version)) if version else None
        if known is not None:
            sha_of[name] = known["sha256"]  # same object as journaled: not even downloaded again
        else:
            todo.append((name, version, size))
    skipped = len(files) - len(todo)

    bar = _progress(len(files), skipped, opts.progress)
    for start in range(0, len(todo), max(1, opts.batch_size)):
        done = journal.scanned()
        batch, reused = [], []
        for name, version, size in todo[start : start + opts.batch_size]:
            if size > MAX_READ_BYTES:
                digest = f"unread:{name}:{version or size}"
                res = invalid(f"{size:,} bytes: too large to scan (the service accepts at most 4 MB)")
                reused.append({"kind": "image", "file": name, "version": version, "sha256": digest, **res})
                sha_of[name] = digest
                continue
            data = store.read(name)
            digest = hashlib.sha256(data).hexdigest()
            sha_of[name] = digest
            if digest in done:  # scanned before (an earlier run, or the same content under another name)
                skipped += 1
                if version:  # remember the name and version so a later resume skips the download
                    reused.append({**done[digest], "file": name, "version": version})
                continue
            batch.append((name, version, digest, data))
        results = moderate_images([(name, data) for name, _, _, data in batch]) if batch else []
        entries = reused + [
            {"kind": "image", "file": name, "version": version, "sha256": digest, **res}
            for (name, version, digest, _), res in zip(batch, results, strict=True)
        ]
        if entries:
            journal.append(entries)  # journaled before the bar moves (fsynced locally; on S3 within seconds)
        bar.update(len(todo[start : start + opts.batch_size]))
    bar.close()

    prompt_result = None
    prompt = info.get("instance_prompt") if isinstance(info, dict) else None
    if isinstance(prompt, str) and prompt.strip():
        prompt_result = moderate_text(prompt) if moderate_text else None
        if prompt_result is None:
            prompt_result = {
                "verdict": "NOT_CHECKED",
                "reason": "no text moderation service: pass --target host:port of a running safegen",
            }

    done = journal.scanned()
    images = []
    for name, _version, _size in files:
        e = dict(done[sha_of[name]])
        e["file"] = name
        e.pop("version", None)
        images.append(e)
    earlier = {e["file"]: e for e in journal.entries if e.get("kind") in ("moved", "deleted")}
    unsafe = [e for e in images if e.get("verdict") == "UNSAFE"]

    actions: list[dict] = []
    if opts.quarantine and (unsafe or any(e["kind"] == "moved" for e in earlier.values())):
        actions = _quarantine(store, unsafe, info if not opts.shard else None, raw_info, journal)
    elif opts.delete_unsafe and unsafe:
        for e in unsafe:
            store.delete(e["file"])
            entry = {"kind": "deleted", "file": e["file"], "sha256": e["sha256"]}
            journal.append([entry], durable=True)
            actions.append(entry)
    # Images moved or deleted by an earlier, interrupted run are still reported (sets: a 1%-unsafe shard
    # of 250,000 images would otherwise compare 2,500 moves with every image).
    acted, listed = {a.get("file") for a in actions}, {i["file"] for i in images}
    for f, e in earlier.items():
        if f not in acted:
            actions.append(e)
        if f not in listed:
            prior = {k: v for k, v in done.get(e["sha256"], {}).items() if k != "version"}
            images.append({**prior, "file": f, "sha256": e["sha256"], "verdict": "UNSAFE"})

    report = build_report(
        store.label,
        backend() if callable(backend) else backend,
        guardrail_id,
        prompt,
        prompt_result,
        images,
        actions,
        skipped,
    )
    journal.close()  # every journal segment is written before a report says the scan is done
    if opts.shard:
        report["shard"] = {"index": opts.shard.index, "count": opts.shard.count}
        report["quarantine"] = quarantine_label(store) if opts.quarantine else None
        state.write(shard_report_name(opts.shard), json_bytes(report))
    elif opts.report:
        atomic_write_json(Path(opts.report), report)
    else:
        state.write(REPORT_FILE, json_bytes(report))
    return report


def _quarantine(store, unsafe: list[dict], info, raw_info: bytes | None, journal: Journal) -> list[dict]:
    """Moves unsafe images to the quarantine (keeping relative paths), then rewrites dataset_info.json."""
    actions = []
    for e in unsafe:
        dest = store.move_to_quarantine(e["file"])
        entry = {"kind": "moved", "file": e["file"], "sha256": e["sha256"], "to": dest}
        journal.append([entry], durable=True)  # per file: a kill between two moves leaves a consistent journal
        actions.append(entry)
    if isinstance(info, dict) and raw_info is not None:
        every = [e for e in journal.entries if e.get("kind") == "moved"]  # this run's and any earlier run's
        rewrite_info(store, info, raw_info, every)
    return actions


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="img", desc="scan", file=sys.stderr)
