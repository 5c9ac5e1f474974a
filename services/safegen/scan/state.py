"""Where a scan keeps its state (journals and reports): a local folder, or an s3:// prefix that every
shard of a Kubernetes Job and the final merge can reach."""

from __future__ import annotations

from pathlib import Path

from safegen.core.files import atomic_write
from safegen.scan.journal import Journal, S3Journal
from safegen.scan.stores import parse_s3_url


class LocalState:
    """A local folder (created on first use)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.label = str(self.root)

    def where(self, name: str) -> str:
        return str(self.root / name)

    def read(self, name: str) -> bytes | None:
        p = self.root / name
        return p.read_bytes() if p.is_file() else None

    def write(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / name, data)

    def names(self, prefix: str) -> list[str]:
        return sorted(p.name for p in self.root.glob(f"{prefix}*") if p.is_file()) if self.root.is_dir() else []

    def journal(self, name: str) -> Journal:
        self.root.mkdir(parents=True, exist_ok=True)
        return Journal(self.root / name)


class S3State:
    """An s3:// prefix: reports are single PutObjects (atomic on S3), journals are segment prefixes."""

    def __init__(self, url: str, client=None):
        self.bucket, self.prefix = parse_s3_url(url)
        self.label = url
        if client is None:
            from safegen.core.settings import AwsSettings

            client = AwsSettings.from_env().client("s3")
        self.client = client

    def _call(self, what: str, fn, **kw):
        from safegen.core.aws import map_aws_error

        try:
            return fn(**kw)
        except Exception as e:  # noqa: BLE001 - one mapping for every botocore failure
            raise map_aws_error(e, f"S3 {what} (scan state {self.label})") from None

    def where(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"

    def read(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            from safegen.core.aws import map_aws_error

            raise map_aws_error(e, f"S3 GetObject {self.where(name)}") from None

    def write(self, name: str, data: bytes) -> None:
        self._call(
            "PutObject",
            self.client.put_object,
            Bucket=self.bucket,
            Key=self.prefix + name,
            Body=data,
            ContentType="application/json",
        )

    def names(self, prefix: str) -> list[str]:
        pages = self._call(
            "ListObjectsV2",
            lambda **kw: list(self.client.get_paginator("list_objects_v2").paginate(**kw)),
            Bucket=self.bucket,
            Prefix=self.prefix + prefix,
            Delimiter="/",
        )
        return sorted(o["Key"][len(self.prefix) :] for page in pages for o in page.get("Contents", []))

    def journal(self, name: str) -> S3Journal:
        return S3Journal(self.client, self.bucket, f"{self.prefix}{name}/", self._call)


def open_state(state_dir: str, store, client=None) -> LocalState | S3State:
    """--state-dir: an s3:// prefix, a local folder, or (empty) the store's default folder."""
    if state_dir.startswith("s3://"):
        return S3State(state_dir, client if client is not None else getattr(store, "client", None))
    return LocalState(Path(state_dir) if state_dir else store.state_dir)
