"""Where a dataset lives: a local folder or an s3:// prefix. Stores list, read, quarantine and rewrite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from safegen.core.files import atomic_write, fsync_dir

INFO_FILE = "dataset_info.json"
REPORT_FILE = "safegen_scan_report.json"
#: The unsharded report, shard reports (safegen_scan_report.shard-K-of-N.json) and the merged report
#: start with this; none of them is ever scanned as part of the dataset.
REPORT_PREFIX = "safegen_scan_report"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif"}
#: Files bigger than this are reported INVALID without being read (the service's limit is 4 MB).
MAX_READ_BYTES = 64 * 1024 * 1024
#: Which names of the dataset to list (a shard's partition); None lists them all.
Keep = Callable[[str], bool]


class LocalStore:
    """A dataset folder on disk; the journal and the default report live in it."""

    def __init__(self, root: Path, quarantine: Path | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} is not a directory")
        self.quarantine = Path(quarantine) if quarantine else None
        self.label = str(self.root)
        self.state_dir = self.root

    def files(self, keep: Keep | None = None) -> list[tuple[str, str | None, int]]:
        """(relative name, version or None, size) of every image file (by suffix or PNG/JPEG magic) whose
        name `keep` accepts (a shard's: the others are never opened)."""
        excl = [self.quarantine.resolve()] if self.quarantine else []
        out = []
        for p in sorted(self.root.rglob("*")):
            if not p.is_file() or p.name.startswith((".", REPORT_PREFIX)) or p.name == INFO_FILE:
                continue
            if keep is not None and not keep(p.relative_to(self.root).as_posix()):
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
    S3); quarantine is a server-side copy then a delete. The journal and the report are kept in a state
    folder (local by default, or an s3:// prefix: see safegen.scan.state)."""

    def __init__(self, url: str, client=None, quarantine: str | None = None, state_dir: Path | None = None):
        self.bucket, self.prefix = parse_s3_url(url)
        self.label = url
        if client is None:
            from safegen.core.settings import AwsSettings

            client = AwsSettings.from_env().client("s3")
        self.client = client
        self.quarantine = parse_s3_url(quarantine) if quarantine else None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{self.bucket}_{self.prefix}".strip("_/"))
        # The default place for the journal and report (a local folder); --state-dir may pick another,
        # including an s3:// prefix, which is what shards of a Kubernetes Job share.
        self.state_dir = Path(state_dir) if state_dir else Path(".safegen-scan") / safe

    def _call(self, what: str, fn, **kw):
        from safegen.core.aws import map_aws_error

        try:
            return fn(**kw)
        except Exception as e:  # noqa: BLE001 - one mapping for every botocore failure
            raise map_aws_error(e, f"S3 {what}") from None

    def files(self, keep: Keep | None = None) -> list[tuple[str, str | None, int]]:
        """(name under the prefix, ETag, size) of every object with an image suffix whose name `keep`
        accepts. Every shard lists the whole prefix (1,000 keys per request) but keeps only its own
        names: a shard of a 1M-image dataset holds its quarter, not a million tuples."""
        q = f"{self.quarantine[1]}" if self.quarantine and self.quarantine[0] == self.bucket else None
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    name = key[len(self.prefix) :]
                    base = name.rsplit("/", 1)[-1]
                    if not name or base.startswith((".", REPORT_PREFIX)) or name == INFO_FILE:
                        continue
                    if q is not None and key.startswith(q):
                        continue
                    if keep is not None and not keep(name):
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
        self._call(
            "PutObject",
            self.client.put_object,
            Bucket=self.bucket,
            Key=self.prefix + INFO_FILE,
            Body=data,
            ContentType="application/json",
        )

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


def open_store(directory: str, quarantine: str = "", state_dir: str = ""):
    """A LocalStore for a folder, an S3Store for s3://bucket/prefix (whose quarantine must be s3:// too).
    `state_dir` sets the store's default local state folder; an s3:// state is opened by safegen.scan.state."""
    local_state = Path(state_dir) if state_dir and not state_dir.startswith("s3://") else None
    if directory.startswith("s3://"):
        if quarantine and not quarantine.startswith("s3://"):
            raise ValueError("an s3:// dataset needs an s3:// --quarantine (a server-side move)")
        return S3Store(directory, quarantine=quarantine or None, state_dir=local_state)
    if quarantine.startswith("s3://"):
        raise ValueError("a local dataset needs a local --quarantine folder")
    store = LocalStore(Path(directory), Path(quarantine) if quarantine else None)
    if local_state is not None:
        store.state_dir = local_state
    return store


def quarantine_label(store) -> str | None:
    """The store's quarantine as the user wrote it (a folder, or s3://bucket/prefix/); None without one."""
    q = getattr(store, "quarantine", None)
    if q is None:
        return None
    return f"s3://{q[0]}/{q[1]}" if isinstance(q, tuple) else str(q)


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
