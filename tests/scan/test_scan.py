"""Dataset scans: report by default, quarantine or delete only when asked, dataset_info.json rewritten
consistently, resumable by hash after a SIGKILL, atomic report, and the same through a running service."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import ImageDraw

from safegen.core.types import Source
from safegen.scan import cli, moderation, report as scan_report, scanner, stores
from safegen.scan.journal import JOURNAL_FILE
from safegen.training import synthetic_images as synthetic
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.image.servicer import create_servicer
from safegen.policy import GuardrailRegistry
from support import RedIsUnsafe, serve

REPO = Path(__file__).resolve().parents[2]


def unsafe_image(seed: int):
    img = synthetic.landscape(seed)
    ImageDraw.Draw(img).rectangle((100, 100, 300, 300), fill=(235, 10, 10))
    return img


def make_dataset(root: Path, safe: int = 4, unsafe: int = 2, extra_info: dict | None = None) -> dict[str, bytes]:
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for i in range(safe):
        files[f"safe_{i}.png"] = synthetic.encode(synthetic.landscape(i), "PNG")
    for i in range(unsafe):
        files[f"sub/unsafe_{i}.jpg"] = synthetic.encode(unsafe_image(i), "JPEG")
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    info = {"instance_prompt": "a photo of sks dog", **(extra_info or {})}
    (root / "dataset_info.json").write_text(json.dumps(info))
    return files


class Counting:
    """The scan's image function over an ImageModerator with the red-is-unsafe double; counts images."""

    def __init__(self):
        self.mod = ImageModerator(RedIsUnsafe(), GuardrailRegistry.load(), ImageLimits(rate_per_s=0))
        self.seen = 0

    def __call__(self, batch):
        self.seen += len(batch)
        return moderation.per_image(
            lambda d: moderation.result_from_verdict(self.mod.moderate([d], Source.INPUT)[0]), batch
        )


def test_default_only_reports(tmp_path):
    files = make_dataset(tmp_path / "ds")
    (tmp_path / "ds" / "notes.txt").write_text("not an image")
    (tmp_path / "ds" / "fake.png").write_bytes(b"GIF89a" + b"\x00" * 30)
    report = scanner.scan_dataset(
        tmp_path / "ds", Counting(), lambda p: {"verdict": "SAFE"}, scanner.ScanOptions(progress=False)
    )
    assert all((tmp_path / "ds" / f).read_bytes() == d for f, d in files.items())  # nothing moved or changed
    on_disk = json.loads((tmp_path / "ds" / stores.REPORT_FILE).read_text())
    assert on_disk == report
    by_file = {e["file"]: e for e in report["images"]}
    assert set(by_file) == set(files) | {"fake.png"}
    assert (
        by_file["fake.png"]["verdict"] == "INVALID" and "unsupported format (GIF data)" in by_file["fake.png"]["error"]
    )
    for f, data in files.items():
        assert by_file[f]["sha256"] == hashlib.sha256(data).hexdigest()
        assert by_file[f]["verdict"] == ("UNSAFE" if "unsafe" in f else "SAFE")
    assert by_file["sub/unsafe_0.jpg"]["labels"][0]["name"] == "Explicit"
    assert by_file["sub/unsafe_0.jpg"]["detected"][0]["category"] == "SEXUAL"
    assert report["summary"] == {
        "images": 7,
        "safe": 4,
        "unsafe": 2,
        "invalid": 1,
        "resumed_from_journal": 0,
        "prompt_unsafe": False,
    }
    assert report["instance_prompt"] == {"text": "a photo of sks dog", "verdict": "SAFE"}
    assert report["actions"] == []


def test_quarantine_moves_unsafe_and_rewrites_dataset_info(tmp_path):
    ds, q = tmp_path / "ds", tmp_path / "quarantine"
    files = make_dataset(
        ds,
        extra_info={
            "captions": {"sub/unsafe_0.jpg": "x", "safe_0.png": "y"},
            "images": ["safe_1.png", "unsafe_1.jpg"],
            "records": [{"file_name": "sub/unsafe_1.jpg"}, {"file_name": "safe_2.png"}],
        },
    )
    report = scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(quarantine=q, progress=False))
    for f, data in files.items():
        assert (ds / f).exists() == ("unsafe" not in f)
        if "unsafe" in f:
            assert (q / f).read_bytes() == data  # moved intact, relative path kept
    info = json.loads((ds / "dataset_info.json").read_text())
    assert info["instance_prompt"] == "a photo of sks dog"
    assert info["captions"] == {"safe_0.png": "y"}
    assert info["images"] == ["safe_1.png"]
    assert info["records"] == [{"file_name": "safe_2.png"}]
    assert info["safegen_scan"]["quarantined"] == ["sub/unsafe_0.jpg", "sub/unsafe_1.jpg"]
    assert json.loads((q / "dataset_info.json.orig").read_text())["images"] == ["safe_1.png", "unsafe_1.jpg"]
    assert sorted(a["file"] for a in report["actions"] if a["kind"] == "moved") == [
        "sub/unsafe_0.jpg",
        "sub/unsafe_1.jpg",
    ]
    assert report["instance_prompt"]["verdict"] == "NOT_CHECKED"
    # A second scan finds a clean dataset, still reports what was moved, and never scans the quarantine.
    again = scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(quarantine=q, progress=False))
    assert again["summary"]["unsafe"] == 2 and again["summary"]["resumed_from_journal"] == 4
    assert not any(e["file"].startswith("quarantine") for e in again["images"])


def test_delete_only_with_the_explicit_flag(tmp_path):
    ds = tmp_path / "ds"
    files = make_dataset(ds)
    scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(progress=False))
    assert all((ds / f).exists() for f in files)
    report = scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(delete_unsafe=True, progress=False))
    assert [f for f in files if not (ds / f).exists()] == ["sub/unsafe_0.jpg", "sub/unsafe_1.jpg"]
    assert {a["kind"] for a in report["actions"]} == {"deleted"}
    with pytest.raises(ValueError, match="either --quarantine DIR or --delete-unsafe"):
        scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(quarantine=tmp_path / "q", delete_unsafe=True))


def test_resume_skips_by_hash_and_rescans_changed_files(tmp_path):
    ds = tmp_path / "ds"
    make_dataset(ds)
    first = Counting()
    scanner.scan_dataset(ds, first, None, scanner.ScanOptions(progress=False))
    assert first.seen == 6
    second = Counting()
    report = scanner.scan_dataset(ds, second, None, scanner.ScanOptions(progress=False))
    assert second.seen == 0 and report["summary"]["resumed_from_journal"] == 6
    (ds / "safe_0.png").write_bytes(synthetic.encode(unsafe_image(9)))  # content changed: new hash
    (ds / "renamed.png").write_bytes((ds / "safe_1.png").read_bytes())  # same content: known hash
    third = Counting()
    report = scanner.scan_dataset(ds, third, None, scanner.ScanOptions(progress=False))
    assert third.seen == 1
    by_file = {e["file"]: e for e in report["images"]}
    assert by_file["safe_0.png"]["verdict"] == "UNSAFE" and by_file["renamed.png"]["verdict"] == "SAFE"


def test_a_torn_journal_line_is_ignored(tmp_path):
    ds = tmp_path / "ds"
    make_dataset(ds)
    scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(progress=False))
    journal = ds / JOURNAL_FILE
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # killed mid-write
    again = Counting()
    report = scanner.scan_dataset(ds, again, None, scanner.ScanOptions(progress=False))
    assert again.seen == 3 and report["summary"]["images"] == 6


def test_interrupted_quarantine_resumes_consistently(tmp_path, monkeypatch):
    ds, q = tmp_path / "ds", tmp_path / "q"
    make_dataset(ds, extra_info={"images": ["sub/unsafe_0.jpg", "sub/unsafe_1.jpg", "safe_0.png"]})
    real_move, calls = stores._move, []

    def crash_on_second(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between two moves")
        real_move(src, dst)

    monkeypatch.setattr(stores, "_move", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(quarantine=q, progress=False))
    assert json.loads((ds / "dataset_info.json").read_text())["images"][0] == "sub/unsafe_0.jpg"  # not yet rewritten
    monkeypatch.setattr(stores, "_move", real_move)
    report = scanner.scan_dataset(ds, Counting(), None, scanner.ScanOptions(quarantine=q, progress=False))
    assert (q / "sub/unsafe_0.jpg").exists() and (q / "sub/unsafe_1.jpg").exists()
    assert json.loads((ds / "dataset_info.json").read_text())["images"] == ["safe_0.png"]
    assert sorted(a["file"] for a in report["actions"]) == ["sub/unsafe_0.jpg", "sub/unsafe_1.jpg"]
    assert report["summary"]["unsafe"] == 2


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    scan_report.atomic_write_json(target, {"v": 1})

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        scan_report.atomic_write_json(target, {"v": 2, "big": "x" * 100000})
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def _args(directory, **kw):
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    argv = [str(directory), "--no-progress"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    return parser.parse_args(argv)


def test_cli_through_a_running_service(tmp_path, registry, capsys):
    ds = tmp_path / "ds"
    make_dataset(ds, safe=3, unsafe=2)
    (ds / "broken.png").write_bytes(synthetic.encode(synthetic.city(1))[:500])
    servicer = create_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "4"}, detector=RedIsUnsafe())
    with serve(servicer) as port:
        rc = cli.run(_args(ds, target=f"127.0.0.1:{port}", quarantine=tmp_path / "q", batch_size=5))
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 3, captured.err
    report = json.loads((ds / stores.REPORT_FILE).read_text())
    assert report["backend"] == "red-double"
    assert report["summary"]["unsafe"] == 2 and report["summary"]["invalid"] == 1 and report["summary"]["safe"] == 3
    assert "corrupt or truncated PNG data" in {e["file"]: e for e in report["images"]}["broken.png"]["error"]
    assert "moved: sub/unsafe_0.jpg" in out
    # The instance prompt went to the same target, which hosts no text service: reported, not hidden.
    assert (
        report["instance_prompt"]["verdict"] == "NOT_CHECKED" and "UNIMPLEMENTED" in report["instance_prompt"]["reason"]
    )


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.run(_args(tmp_path / "missing")) == 2
    (tmp_path / "ds").mkdir()
    assert cli.run(_args(tmp_path / "ds", batch_size=50)) == 2
    assert "--batch-size must be from 1 to 20" in capsys.readouterr().err


def test_scan_survives_sigkill_and_resumes(tmp_path):
    """A real scan (local detectors, in-process) is killed midway with SIGKILL and run again: the first
    run's results are kept (not recomputed), every image ends up in the report once, nothing is corrupt."""
    ds = tmp_path / "ds"
    ds.mkdir()
    n = 40
    for i in range(n):
        fam = list(synthetic.FAMILIES)[i % len(synthetic.FAMILIES)]
        (ds / f"img_{i:03d}.png").write_bytes(synthetic.encode(synthetic.FAMILIES[fam](500 + i, 256)))
    (ds / "dataset_info.json").write_text(json.dumps({"instance_prompt": "a photo of a landscape"}))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "services"), str(REPO / "gateway")]),
        "OMP_NUM_THREADS": "1",
    }
    cmd = [sys.executable, "-m", "safegen.scan", str(ds), "--no-progress", "--batch-size", "1"]
    journal = ds / JOURNAL_FILE
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if journal.exists() and journal.read_bytes().count(b"\n") >= 5:
                break
            if proc.poll() is not None:
                pytest.fail(f"scan ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        else:
            pytest.fail("the scan journaled nothing within 120 s")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = [json.loads(x) for x in journal.read_bytes().splitlines() if x.strip().endswith(b"}")]
    assert 5 <= len(done_before) < n, "the kill must land midway"
    report_path = ds / stores.REPORT_FILE
    assert not report_path.exists()  # the report is written at the end, atomically
    assert all(not p.name.endswith(".tmp") or p.name.startswith(".") for p in ds.iterdir())

    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    report = json.loads(report_path.read_text())
    assert report["summary"]["images"] == n and report["summary"]["safe"] == n
    assert report["summary"]["resumed_from_journal"] == len(done_before)
    assert len({e["sha256"] for e in report["images"]}) == n
    kept = {e["sha256"]: e for e in report["images"]}
    for e in done_before:  # the first run's verdicts survive unchanged
        assert kept[e["sha256"]]["verdict"] == e["verdict"] and kept[e["sha256"]]["labels"] == e["labels"]
    entries = []
    for line in journal.read_bytes().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # at most the line the kill tore
    assert sorted(e["sha256"] for e in entries) == sorted(kept)  # each image scanned exactly once overall


def test_journal_index_follows_appends_and_reloads(tmp_path):
    """The sha256 index is kept up to date on append (it was rebuilt per batch: quadratic in a shard's size)."""
    from safegen.scan.journal import Journal

    j = Journal(tmp_path / "j.jsonl")
    index = j.scanned()
    j.append(
        [
            {"kind": "image", "file": "a.png", "sha256": "s1", "verdict": "SAFE"},
            {"kind": "moved", "file": "a.png", "sha256": "s1", "to": "q/a.png"},
        ]
    )
    j.append([{"kind": "image", "file": "b.png", "sha256": "s1", "verdict": "UNSAFE"}])
    assert index is j.scanned() and set(index) == {"s1"} and index["s1"]["file"] == "b.png"  # the latest wins
    j.close()
    again = Journal(tmp_path / "j.jsonl")
    assert again.scanned() == index and len(again.entries) == 3
    again.close()
