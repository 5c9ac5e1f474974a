"""Dataset scans of an s3:// prefix (moto): quarantine by server-side move, dataset_info.json rewritten in
the bucket, and a resumed scan that skips journaled objects by ETag without downloading them again."""

from __future__ import annotations

import json

import boto3
import pytest
from PIL import ImageDraw

from safegen.core.types import Source
from safegen.scan import cli, moderation, scanner, stores
from safegen.training import synthetic_images as synthetic
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.policy import GuardrailRegistry
from support import RedIsUnsafe

moto = pytest.importorskip("moto")


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="datasets")
        yield client


def put_dataset(client):
    for i in range(3):
        client.put_object(Bucket="datasets", Key=f"dogs/safe_{i}.png", Body=synthetic.encode(synthetic.landscape(i)))
    img = synthetic.city(1)
    ImageDraw.Draw(img).rectangle((50, 50, 250, 250), fill=(240, 5, 5))
    client.put_object(Bucket="datasets", Key="dogs/more/unsafe.jpg", Body=synthetic.encode(img, "JPEG"))
    client.put_object(Bucket="datasets", Key="dogs/readme.txt", Body=b"not an image")
    client.put_object(Bucket="datasets", Key="other/elsewhere.png", Body=synthetic.encode(synthetic.gradient(1)))
    client.put_object(
        Bucket="datasets",
        Key="dogs/dataset_info.json",
        Body=json.dumps(
            {"instance_prompt": "a photo of sks dog", "images": ["safe_0.png", "more/unsafe.jpg"]}
        ).encode(),
    )


class Moderate:
    def __init__(self):
        self.mod = ImageModerator(RedIsUnsafe(), GuardrailRegistry.load(), ImageLimits(rate_per_s=0))
        self.seen = 0

    def __call__(self, batch):
        self.seen += len(batch)
        return moderation.per_image(
            lambda d: moderation.result_from_verdict(self.mod.moderate([d], Source.INPUT)[0]), batch
        )


def test_s3_scan_quarantines_and_resumes_by_etag(s3, tmp_path):
    put_dataset(s3)
    store = stores.S3Store(
        "s3://datasets/dogs", client=s3, quarantine="s3://datasets/quarantine/dogs", state_dir=tmp_path / "state"
    )
    first = Moderate()
    report = scanner.scan_dataset(
        store, first, None, scanner.ScanOptions(quarantine="s3://datasets/quarantine/dogs", progress=False)
    )
    assert first.seen == 4
    assert sorted(e["file"] for e in report["images"]) == ["more/unsafe.jpg", "safe_0.png", "safe_1.png", "safe_2.png"]
    assert report["summary"]["unsafe"] == 1 and report["dataset"] == "s3://datasets/dogs"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="datasets")["Contents"]}
    assert "dogs/more/unsafe.jpg" not in keys and "quarantine/dogs/more/unsafe.jpg" in keys
    assert "quarantine/dogs/dataset_info.json.orig" in keys
    info = json.loads(s3.get_object(Bucket="datasets", Key="dogs/dataset_info.json")["Body"].read())
    assert info["images"] == ["safe_0.png"] and info["safegen_scan"]["quarantined"] == ["more/unsafe.jpg"]
    assert json.loads((tmp_path / "state" / stores.REPORT_FILE).read_text()) == report

    # Resume: journaled objects are matched by key and ETag and not downloaded again.
    gets = []
    s3.meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"]))
    again = Moderate()
    report = scanner.scan_dataset(
        store, again, None, scanner.ScanOptions(quarantine="s3://datasets/quarantine/dogs", progress=False)
    )
    assert again.seen == 0 and report["summary"]["resumed_from_journal"] == 3
    assert gets == ["dogs/dataset_info.json"]
    assert report["summary"]["unsafe"] == 1  # the quarantined image is still reported

    # A changed object (new ETag) is downloaded and scanned again.
    s3.put_object(Bucket="datasets", Key="dogs/safe_1.png", Body=synthetic.encode(synthetic.landscape(9)))
    third = Moderate()
    scanner.scan_dataset(store, third, None, scanner.ScanOptions(progress=False))
    assert third.seen == 1


def test_s3_cli_errors_are_clear(s3, tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    args = parser.parse_args(["s3://datasets/dogs", "--quarantine", str(tmp_path / "q"), "--no-progress"])
    assert cli.run(args) == 2
    assert "an s3:// dataset needs an s3:// --quarantine" in capsys.readouterr().err
    with pytest.raises(ValueError, match="has no bucket"):
        stores.parse_s3_url("s3:///x")
    assert stores.parse_s3_url("s3://b/p/q/") == ("b", "p/q/") and stores.parse_s3_url("s3://b") == ("b", "")


def test_sharded_s3_scan_keeps_its_state_in_s3_and_merges(s3, tmp_path, monkeypatch, capsys):
    """As in a Kubernetes Job: two shards with --state-dir s3://..., no local state at all; each shard's
    journal is segment objects, a resumed shard reads them back (no image downloaded or moderated again),
    and the merge rewrites dataset_info.json in the bucket once."""
    import argparse

    from red_scan import moderators

    seen = []

    def counting(args):
        images, backend, text = moderators(args)
        return (lambda batch: (seen.extend(n for n, _ in batch), images(batch))[1]), backend, text

    monkeypatch.setattr(cli, "_moderators", counting)
    monkeypatch.chdir(tmp_path)  # a local default state would show up here
    put_dataset(s3)
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    base = [
        "s3://datasets/dogs",
        "--no-progress",
        "--state-dir",
        "s3://datasets/state/dogs",
        "--quarantine",
        "s3://datasets/quarantine/dogs",
    ]
    for k in range(2):
        assert cli.run(parser.parse_args([*base, "--shard", f"{k}/2"])) in (0, 3)
    assert sorted(seen) == ["more/unsafe.jpg", "safe_0.png", "safe_1.png", "safe_2.png"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="datasets")["Contents"]}
    assert {
        "state/dogs/safegen_scan_report.shard-0-of-2.json",
        "state/dogs/safegen_scan_report.shard-1-of-2.json",
    } <= keys
    assert any(k.startswith("state/dogs/.safegen_scan_journal.shard-0-of-2.jsonl/") for k in keys)
    assert list(tmp_path.iterdir()) == []
    info = json.loads(s3.get_object(Bucket="datasets", Key="dogs/dataset_info.json")["Body"].read())
    assert "safegen_scan" not in info  # not before the merge

    assert cli.run(parser.parse_args([*base, "--merge"])) == 3
    report = json.loads(s3.get_object(Bucket="datasets", Key="state/dogs/safegen_scan_report.json")["Body"].read())
    assert report["summary"]["images"] == 4 and report["summary"]["unsafe"] == 1
    info = json.loads(s3.get_object(Bucket="datasets", Key="dogs/dataset_info.json")["Body"].read())
    assert info["images"] == ["safe_0.png"] and info["safegen_scan"]["quarantined"] == ["more/unsafe.jpg"]

    seen.clear()
    for k in range(2):  # a shard run again (a retried pod) finds its journal in S3 and redoes nothing
        cli.run(parser.parse_args([*base, "--shard", f"{k}/2"]))
    assert seen == []
    capsys.readouterr()
