"""`safegen scan-dataset DIR`: moderate a fine-tuning dataset (images + dataset_info.json) before training.

Every image (and the instance prompt) of a folder or an s3:// prefix is moderated, in-process or
through a running service (--target). Results go to an append-only journal as they come (flushed and
fsynced per batch), so a scan killed midway resumes where it stopped: files whose sha256 (or, on S3,
whose key and ETag) is already journaled are skipped. The JSON report and any rewritten
dataset_info.json are written atomically (temp file, fsync, os.replace). By default the scan only
reports; --quarantine DIR moves unsafe images out and rewrites
dataset_info.json; nothing is deleted unless --delete-unsafe is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from safegen.core.files import atomic_write, fsync_dir

INFO_FILE = "dataset_info.json"
REPORT_FILE = "safegen_scan_report.json"
JOURNAL_FILE = ".safegen_scan_journal.jsonl"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif"}

#: One image's result as the scan records it (JSON-ready): verdict SAFE, UNSAFE or INVALID.
Result = dict
#: Moderates a batch of (name, bytes) and returns one Result (verdict, filters, labels...) per image.
ModerateImages = Callable[[Sequence[tuple[str, bytes]]], list[Result]]
#: Moderates the instance prompt; returns a Result-like dict, or None when no text service is available.
ModerateText = Callable[[str], "dict | None"]


# -------------------------------------------------------------------------------------- atomic files
def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


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


# ---------------------------------------------------------------------------------------- storage
#: Files bigger than this are reported INVALID without being read (the service's limit is 4 MB).
MAX_READ_BYTES = 64 * 1024 * 1024


class LocalStore:
    """A dataset folder on disk; the journal and the default report live in it."""

    def __init__(self, root: Path, quarantine: Path | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} is not a directory")
        self.quarantine = Path(quarantine) if quarantine else None
        self.label = str(self.root)
        self.state_dir = self.root

    def files(self) -> list[tuple[str, str | None, int]]:
        """(relative name, version or None, size) of every image file (by suffix or PNG/JPEG magic)."""
        excl = [self.quarantine.resolve()] if self.quarantine else []
        out = []
        for p in sorted(self.root.rglob("*")):
            if not p.is_file() or p.name.startswith(".") or p.name in (INFO_FILE, REPORT_FILE):
                continue
            rp = p.resolve()
            if any(rp == e or e in rp.parents for e in excl):
                continue
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                with open(p, "rb") as f:
                    head = f.read(8)
                if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")):
                    continue
            # No cheap content version on disk (mtime lies after copies): local files are always hashed.
            out.append((p.relative_to(self.root).as_posix(), None, p.stat().st_size))
        return out

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def info_bytes(self) -> bytes | None:
        p = self.root / INFO_FILE
        return p.read_bytes() if p.exists() else None

    def write_info(self, data: bytes) -> None:
        atomic_write(self.root / INFO_FILE, data)

    def backup_info(self, data: bytes) -> None:
        backup = self._qdir() / f"{INFO_FILE}.orig"
        if not backup.exists():  # the first rewrite's original is the one worth keeping
            atomic_write(backup, data)

    def _qdir(self) -> Path:
        assert self.quarantine is not None
        self.quarantine.mkdir(parents=True, exist_ok=True)
        return self.quarantine

    def move_to_quarantine(self, name: str) -> str:
        src, dst = self.root / name, self._qdir() / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.exists():
            _move(src, dst)
        return str(dst)

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


def parse_s3_url(url: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, "prefix/") ("" for the bucket root)."""
    if not url.startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3:// URL")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise ValueError(f"{url!r} has no bucket")
    prefix = prefix.strip("/")
    return bucket, (prefix + "/" if prefix else "")


class S3Store:
    """A dataset under an s3:// prefix. Objects are versioned by ETag, so a resumed scan skips journaled
    objects without downloading them again; dataset_info.json is rewritten with one PutObject (atomic on
    S3); quarantine is a server-side copy then a delete. The journal and the report stay local."""

    def __init__(self, url: str, client=None, quarantine: str | None = None, state_dir: Path | None = None):
        self.bucket, self.prefix = parse_s3_url(url)
        self.label = url
        if client is None:
            from safegen.core.settings import AwsSettings

            client = AwsSettings.from_env().client("s3")
        self.client = client
        self.quarantine = parse_s3_url(quarantine) if quarantine else None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{self.bucket}_{self.prefix}".strip("_/"))
        self.state_dir = Path(state_dir) if state_dir else Path(".safegen-scan") / safe
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def _call(self, what: str, fn, **kw):
        from safegen.core.aws import map_aws_error

        try:
            return fn(**kw)
        except Exception as e:  # noqa: BLE001 - one mapping for every botocore failure
            raise map_aws_error(e, f"S3 {what}") from None

    def files(self) -> list[tuple[str, str | None, int]]:
        q = f"{self.quarantine[1]}" if self.quarantine and self.quarantine[0] == self.bucket else None
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    name = key[len(self.prefix):]
                    base = name.rsplit("/", 1)[-1]
                    if not name or base.startswith(".") or name in (INFO_FILE, REPORT_FILE):
                        continue
                    if q is not None and key.startswith(q):
                        continue
                    if Path(base).suffix.lower() in IMAGE_SUFFIXES:  # listing cannot sniff bytes
                        out.append((name, obj.get("ETag", ""), int(obj.get("Size", 0))))
        except Exception as e:  # noqa: BLE001
            from safegen.core.aws import map_aws_error

            raise map_aws_error(e, f"S3 ListObjectsV2 s3://{self.bucket}/{self.prefix}") from None
        return sorted(out)

    def read(self, name: str) -> bytes:
        resp = self._call("GetObject", self.client.get_object, Bucket=self.bucket, Key=self.prefix + name)
        return resp["Body"].read()

    def info_bytes(self) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + INFO_FILE)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            from safegen.core.aws import map_aws_error

            raise map_aws_error(e, "S3 GetObject dataset_info.json") from None

    def write_info(self, data: bytes) -> None:
        self._call("PutObject", self.client.put_object, Bucket=self.bucket, Key=self.prefix + INFO_FILE, Body=data,
                   ContentType="application/json")

    def backup_info(self, data: bytes) -> None:
        from botocore.exceptions import ClientError

        qb, qp = self.quarantine
        try:
            self.client.head_object(Bucket=qb, Key=qp + f"{INFO_FILE}.orig")
            return
        except ClientError:
            pass
        self._call("PutObject", self.client.put_object, Bucket=qb, Key=qp + f"{INFO_FILE}.orig", Body=data)

    def move_to_quarantine(self, name: str) -> str:
        from botocore.exceptions import ClientError

        qb, qp = self.quarantine
        src = {"Bucket": self.bucket, "Key": self.prefix + name}
        try:
            self.client.copy_object(CopySource=src, Bucket=qb, Key=qp + name)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                from safegen.core.aws import map_aws_error

                raise map_aws_error(e, "S3 CopyObject") from None
            # Already moved by an interrupted run: the copy exists, the source is gone.
        self._call("DeleteObject", self.client.delete_object, **src)
        return f"s3://{qb}/{qp}{name}"

    def delete(self, name: str) -> None:
        self._call("DeleteObject", self.client.delete_object, Bucket=self.bucket, Key=self.prefix + name)


# ----------------------------------------------------------------------------------------- the scan
@dataclass
class ScanOptions:
    quarantine: "Path | str | None" = None
    delete_unsafe: bool = False
    batch_size: int = 8
    report: Path | None = None
    progress: bool = True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def scan_dataset(source, moderate_images: ModerateImages, moderate_text: ModerateText | None,
                 opts: ScanOptions, backend: "str | Callable[[], str]" = "", guardrail_id: str = "") -> dict:
    """Scans a dataset (a folder path, or a LocalStore/S3Store), acts per `opts`, writes the report."""
    if opts.quarantine and opts.delete_unsafe:
        raise ValueError("choose either --quarantine DIR or --delete-unsafe, not both")
    store = source if hasattr(source, "files") else LocalStore(Path(source), opts.quarantine)
    raw = store.info_bytes()
    info = None
    if raw is not None:
        try:
            info = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{store.label}/{INFO_FILE}: not valid JSON: {e}") from None
    journal = Journal(store.state_dir / JOURNAL_FILE)
    try:
        return _scan(store, raw, info, moderate_images, moderate_text, opts, journal, backend, guardrail_id)
    finally:
        journal.close()


def _scan(store, raw_info, info, moderate_images, moderate_text, opts, journal, backend, guardrail_id) -> dict:
    files = store.files()
    by_version = {(e["file"], e["version"]): e for e in journal.entries
                  if e.get("kind") == "image" and e.get("version")}
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
        for name, version, size in todo[start:start + opts.batch_size]:
            if size > MAX_READ_BYTES:
                digest = f"unread:{name}:{version or size}"
                res = _invalid(f"{size:,} bytes: too large to scan (the service accepts at most 4 MB)")
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
        entries = reused + [{"kind": "image", "file": name, "version": version, "sha256": digest, **res}
                            for (name, version, digest, _), res in zip(batch, results, strict=True)]
        if entries:
            journal.append(entries)  # durable before the bar moves: a kill after this loses nothing
        bar.update(len(todo[start:start + opts.batch_size]))
    bar.close()

    prompt_result = None
    prompt = info.get("instance_prompt") if isinstance(info, dict) else None
    if isinstance(prompt, str) and prompt.strip():
        prompt_result = moderate_text(prompt) if moderate_text else None
        if prompt_result is None:
            prompt_result = {"verdict": "NOT_CHECKED",
                             "reason": "no text moderation service: pass --target host:port of a running safegen"}

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
        actions = _quarantine(store, unsafe, info, raw_info, journal)
    elif opts.delete_unsafe and unsafe:
        for e in unsafe:
            store.delete(e["file"])
            entry = {"kind": "deleted", "file": e["file"], "sha256": e["sha256"]}
            journal.append([entry])
            actions.append(entry)
    # Images moved or deleted by an earlier, interrupted run are still reported.
    for f, e in earlier.items():
        if not any(a.get("file") == f for a in actions):
            actions.append(e)
        if not any(i["file"] == f for i in images):
            prior = {k: v for k, v in done.get(e["sha256"], {}).items() if k != "version"}
            images.append({**prior, "file": f, "sha256": e["sha256"], "verdict": "UNSAFE"})

    report = {
        "dataset": store.label,
        "backend": backend() if callable(backend) else backend,
        "guardrail_id": guardrail_id,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "instance_prompt": {"text": prompt, **prompt_result} if prompt_result else None,
        "summary": {
            "images": len(images),
            "safe": sum(1 for e in images if e.get("verdict") == "SAFE"),
            "unsafe": sum(1 for e in images if e.get("verdict") == "UNSAFE"),
            "invalid": sum(1 for e in images if e.get("verdict") == "INVALID"),
            "resumed_from_journal": skipped,
            "prompt_unsafe": bool(prompt_result and prompt_result.get("verdict") == "UNSAFE"),
        },
        "actions": actions,
        "images": sorted(images, key=lambda e: e["file"]),
    }
    atomic_write_json(Path(opts.report) if opts.report else store.state_dir / REPORT_FILE, report)
    return report


def _quarantine(store, unsafe: list[dict], info, raw_info: bytes | None, journal: Journal) -> list[dict]:
    """Moves unsafe images to the quarantine (keeping relative paths), then rewrites dataset_info.json."""
    actions = []
    for e in unsafe:
        dest = store.move_to_quarantine(e["file"])
        entry = {"kind": "moved", "file": e["file"], "sha256": e["sha256"], "to": dest}
        journal.append([entry])  # per file: a kill between two moves leaves a consistent journal
        actions.append(entry)
    if isinstance(info, dict) and raw_info is not None:
        store.backup_info(raw_info)
        every = [e for e in journal.entries if e.get("kind") == "moved"]  # this run's and any earlier run's
        gone = {a["file"] for a in every} | {a["file"].rsplit("/", 1)[-1] for a in every}
        new_info = _without_files(info, gone)
        scan_meta = dict(new_info.get("safegen_scan") or {})
        scan_meta["quarantined"] = sorted(set(scan_meta.get("quarantined", [])) | {a["file"] for a in every})
        scan_meta["quarantine_dir"] = str(store.quarantine if not isinstance(store.quarantine, tuple)
                                          else f"s3://{store.quarantine[0]}/{store.quarantine[1]}")
        new_info["safegen_scan"] = scan_meta
        store.write_info((json.dumps(new_info, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return actions


def _without_files(obj, gone: set[str]):
    """dataset_info.json with every reference to a quarantined file removed (list items, dict keys,
    and records whose file/image/path field names one), other keys untouched."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in gone:
                continue
            out[k] = _without_files(v, gone)
        return out
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, str) and item in gone:
                continue
            if isinstance(item, dict) and any(isinstance(item.get(f), str) and item[f] in gone
                                               for f in ("file", "file_name", "filename", "image", "path")):
                continue
            out.append(_without_files(item, gone))
        return out
    return obj


def _move(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError:  # another filesystem: copy durably, then remove the source
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
        src.unlink()
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


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


# ---------------------------------------------------------------------------------- moderation glue
def _result_from_pb(r) -> Result:
    from safegen.v1 import common_pb2

    detected = [f for f in r.filters if f.detected]
    return {
        "verdict": "UNSAFE" if r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "SAFE",
        "format": r.format, "width": r.width, "height": r.height,
        "detected": [{"category": common_pb2.Category.Name(f.category).removeprefix("CATEGORY_"),
                      "score": round(f.score, 4),
                      "confidence": common_pb2.Confidence.Name(f.confidence).removeprefix("CONFIDENCE_")}
                     for f in detected],
        "labels": [{"name": lb.name, "parent_name": lb.parent_name, "confidence": round(lb.confidence, 2),
                    "taxonomy_level": lb.taxonomy_level} for lb in r.labels],
    }


def _result_from_verdict(v) -> Result:
    return {
        "verdict": "UNSAFE" if v.intervened else "SAFE",
        "format": v.format, "width": v.width, "height": v.height,
        "detected": [{"category": f.category.value, "score": round(f.score, 4), "confidence": f.confidence.name}
                     for f in v.filters if f.detected],
        "labels": [{"name": lb.name, "parent_name": lb.parent_name, "confidence": lb.confidence,
                    "taxonomy_level": lb.taxonomy_level} for lb in v.labels],
    }


def _invalid(message: str) -> Result:
    return {"verdict": "INVALID", "error": message}


def per_image(moderate_one: Callable[[bytes], Result], batch: Sequence[tuple[str, bytes]]) -> list[Result]:
    """Moderates a batch, retrying image by image when the batch as a whole was refused, so one bad
    file is reported as INVALID without hiding the verdicts of the others."""
    from safegen.errors import InvalidArgument

    out = []
    for _name, data in batch:
        try:
            out.append(moderate_one(data))
        except InvalidArgument as e:
            out.append(_invalid(e.message.replace("images[0]: ", "")))
    return out


def in_process_images(guardrail_id: str, source, env=None) -> tuple[ModerateImages, str]:
    """The local moderator without the per-process rate limit (a batch tool paces itself)."""
    from dataclasses import replace

    from safegen.image.limits import RateLimiter
    from safegen.image.backends import build_detector
    from safegen.image.moderator import ImageModerator
    from safegen.image.settings import ImageSettings
    from safegen.policy import GuardrailRegistry

    settings = ImageSettings.from_env(env)
    registry = GuardrailRegistry.load(os.environ.get("SAFEGEN_GUARDRAILS_DIR") or None)
    registry.get(guardrail_id)
    limits = replace(settings.limits, rate_per_s=0.0)
    mod = ImageModerator(build_detector(settings, env), registry, limits, settings.min_confidence, RateLimiter(0))

    def one(data: bytes) -> Result:
        return _result_from_verdict(mod.moderate([data], source, guardrail_id)[0])

    return (lambda batch: per_image(one, batch)), mod.backend


def remote_images(target: str, guardrail_id: str, source, timeout: float) -> tuple[ModerateImages, Callable[[], str]]:
    import grpc

    from safegen.v1 import image_moderation_pb2, image_moderation_pb2_grpc

    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 100 * 1024 * 1024),
                                                     ("grpc.max_receive_message_length", 100 * 1024 * 1024)])
    stub = image_moderation_pb2_grpc.ImageModerationServiceStub(channel)
    backend = {"name": ""}

    def call(images: list[bytes]):
        for attempt in range(30):
            try:
                return stub.ModerateImages(image_moderation_pb2.ModerateImagesRequest(
                    images=images, source=source, guardrail_id=guardrail_id), timeout=timeout)
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE) and attempt < 29:
                    time.sleep(min(2.0, 0.2 * (attempt + 1)))  # the service's rate limit: back off and retry
                    continue
                raise

    def moderate(batch):
        try:
            resp = call([d for _, d in batch])
            backend["name"] = resp.backend
            return [_result_from_pb(r) for r in resp.results]
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
        out = []  # one image in the batch is bad: find out which, keep the others' verdicts
        for _name, data in batch:
            try:
                out.append(_result_from_pb(call([data]).results[0]))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                out.append(_invalid((e.details() or "").replace("images[0]: ", "")))
        return out

    return moderate, (lambda: backend["name"])


def text_checker(target: str | None, guardrail_id: str, timeout: float) -> ModerateText | None:
    """ModerateText through a running service, or the text moderator in-process."""
    import grpc

    from safegen.v1 import common_pb2, text_moderation_pb2, text_moderation_pb2_grpc

    def check(stub, prompt: str) -> dict:
        r = stub.ModerateText(text_moderation_pb2.ModerateTextRequest(
            text=prompt, source=common_pb2.SOURCE_INPUT, guardrail_id=guardrail_id), timeout=timeout)
        return {"verdict": "UNSAFE" if r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "SAFE",
                "detected": [common_pb2.Category.Name(f.category).removeprefix("CATEGORY_")
                             for f in r.filters if f.detected],
                "words": [w.match for w in r.words]}

    if target:
        stub = text_moderation_pb2_grpc.TextModerationServiceStub(grpc.insecure_channel(target))

        def remote(prompt: str) -> dict:
            try:
                return check(stub, prompt)
            except grpc.RpcError as e:  # the images are scanned already: report the prompt as unchecked
                return {"verdict": "NOT_CHECKED",
                        "reason": f"text moderation at {target} failed: {e.code().name}: {e.details()}"}

        return remote
    moderator = None

    def in_process(prompt: str) -> dict:
        # The text moderator itself, built once on first use (loading the classifier takes a second or two).
        nonlocal moderator
        if moderator is None:
            from safegen.policy import GuardrailRegistry
            from safegen.text.backends import build_backend
            from safegen.text.moderator import TextModerator
            from safegen.text.settings import TextSettings

            registry = GuardrailRegistry.load(os.environ.get("SAFEGEN_GUARDRAILS_DIR") or None)
            moderator = TextModerator(registry, build_backend(TextSettings.from_env()))
        from safegen.core.types import Source

        v = moderator.moderate(prompt, Source.INPUT, guardrail_id)
        return {"verdict": "UNSAFE" if v.intervened else "SAFE",
                "detected": [f.category.value for f in v.filters if f.detected],
                "words": [w.match for w in v.words]}

    return in_process


# -------------------------------------------------------------------------------------------- CLI
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="dataset folder or s3://bucket/prefix: images plus dataset_info.json "
                                          "({\"instance_prompt\": ...})")
    parser.add_argument("--target", default="", help="host:port of a running safegen (image and text moderation); "
                                                     "default: moderate in-process with the local detectors")
    parser.add_argument("--guardrail", default="", help="guardrail id (default: the default guardrail)")
    parser.add_argument("--source", choices=["input", "output"], default="input",
                        help="input: user-supplied training images (default); output: generated images")
    parser.add_argument("--report", default="", help=f"report path (default DIR/{REPORT_FILE})")
    parser.add_argument("--state-dir", default="", help="where an s3:// scan keeps its journal and report "
                                                        "(default ./.safegen-scan/BUCKET_PREFIX)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quarantine", default="", metavar="QDIR",
                      help="move unsafe images to QDIR (an s3:// prefix for an s3:// dataset) and rewrite "
                           "dataset_info.json without them")
    mode.add_argument("--delete-unsafe", action="store_true", help="delete unsafe images (irreversible)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per request (1-20)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request with --target")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def open_store(directory: str, quarantine: str = "", state_dir: str = ""):
    """A LocalStore for a folder, an S3Store for s3://bucket/prefix (whose quarantine must be s3:// too)."""
    if directory.startswith("s3://"):
        if quarantine and not quarantine.startswith("s3://"):
            raise ValueError("an s3:// dataset needs an s3:// --quarantine (a server-side move)")
        return S3Store(directory, quarantine=quarantine or None, state_dir=Path(state_dir) if state_dir else None)
    if quarantine.startswith("s3://"):
        raise ValueError("a local dataset needs a local --quarantine folder")
    return LocalStore(Path(directory), Path(quarantine) if quarantine else None)


def run(args) -> int:
    """0: everything safe; 3: unsafe content found (reported, and quarantined/deleted if asked); 2: error."""
    from safegen.v1 import common_pb2

    from safegen.core.types import Source

    if not 1 <= args.batch_size <= 20:
        print("error: --batch-size must be from 1 to 20", file=sys.stderr)
        return 2
    try:
        store = open_store(args.directory, args.quarantine, args.state_dir)
        if args.target:
            pb_source = common_pb2.SOURCE_INPUT if args.source == "input" else common_pb2.SOURCE_OUTPUT
            moderate, backend_of = remote_images(args.target, args.guardrail, pb_source, args.timeout)
        else:
            source = Source.INPUT if args.source == "input" else Source.OUTPUT
            moderate, name = in_process_images(args.guardrail, source)
            backend_of = lambda: name  # noqa: E731
        text = text_checker(args.target or None, args.guardrail, args.timeout)
        opts = ScanOptions(quarantine=args.quarantine or None, delete_unsafe=args.delete_unsafe,
                           batch_size=args.batch_size, report=Path(args.report) if args.report else None,
                           progress=not args.no_progress)
        report = scan_dataset(store, moderate, text, opts, backend=backend_of, guardrail_id=args.guardrail or "default")
    except Exception as e:  # noqa: BLE001 - a CLI prints one clear line, not a traceback
        msg = getattr(e, "message", None) or (e.details() if hasattr(e, "details") else str(e))
        print(f"error: {msg}", file=sys.stderr)
        return 2
    s = report["summary"]
    print(f"{s['images']} images: {s['safe']} safe, {s['unsafe']} unsafe, {s['invalid']} invalid "
          f"({s['resumed_from_journal']} from an earlier run); prompt: "
          f"{(report['instance_prompt'] or {}).get('verdict', 'none')}; report: "
          f"{args.report or store.state_dir / REPORT_FILE}")
    for a in report["actions"]:
        print(f"  {a['kind']}: {a['file']}" + (f" -> {a['to']}" if a.get("to") else ""))
    return 3 if (s["unsafe"] or s["prompt_unsafe"]) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="safegen scan-dataset", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
