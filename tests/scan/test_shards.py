"""Sharded scans: the partition is stable and complete, a sharded scan plus --merge equals a one-process
scan (also with a shard SIGKILLed and resumed, as 4 processes with Indexed Job variables), the merge is
idempotent and names a missing shard, and shard state can live in S3."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from PIL import ImageDraw

from safegen.scan import cli
from safegen.scan.journal import journal_name
from safegen.scan.shard import Shard, parse_shard, shard_from_env, shard_of
from safegen.scan.stores import INFO_FILE, REPORT_FILE
from safegen.training import synthetic_images as synthetic

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


# ------------------------------------------------------------------------------------------ partition
@settings(max_examples=200, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=40), max_size=60), st.integers(1, 64))
def test_every_key_is_in_exactly_one_shard(keys, count):
    owners = {k: [i for i in range(count) if Shard(i, count).owns(k)] for k in keys}
    assert all(len(o) == 1 for o in owners.values())
    assert all(o[0] == shard_of(k, count) for k, o in owners.items())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), max_size=40), st.integers(1, 16))
def test_the_shard_of_a_key_depends_on_nothing_else(keys, count):
    """Listing order and the other files present never move a key (a resumed shard agrees with its first run)."""
    alone = {k: shard_of(k, count) for k in keys}
    assert {k: shard_of(k, count) for k in reversed(keys)} == alone


def test_the_hash_is_pinned():
    """The partition is part of the on-disk contract (journals name their shard): changing the hash
    would make resumed shards disagree with their first run, so these values must never change."""
    keys = ("a.png", "sub/b.jpg", "img_000.png", "ünïcode.png")
    assert [shard_of(k, 4) for k in keys] == [0, 0, 1, 0]
    assert [shard_of(k, 1000) for k in keys] == [672, 944, 797, 292]  # first 8 bytes of sha256, big-endian
    assert shard_of("anything", 1) == 0


def test_shards_are_roughly_even():
    counts = [0] * 4
    for i in range(4000):
        counts[shard_of(f"images/{i:06d}.jpg", 4)] += 1
    assert min(counts) > 900  # 1000 each on average: a bad hash (e.g. on a shared prefix) would skew this


@pytest.mark.parametrize(
    "text, error",
    [
        ("4/4", "shard index must be from 0 to 3"),
        ("1", "expected K/N"),
        ("a/b", "expected K/N"),
        ("0/0", "shard count must be from 1"),
        ("-1/4", "expected K/N"),
    ],
)
def test_bad_shard_flags_say_what_is_wrong(text, error):
    with pytest.raises(ValueError, match=error):
        parse_shard(text)


def test_shard_from_indexed_job_environment():
    assert shard_from_env({}) is None
    assert shard_from_env({"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETION_COUNT": "4"}) == Shard(2, 4)
    with pytest.raises(ValueError, match="JOB_COMPLETION_COUNT is not set"):
        shard_from_env({"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(ValueError, match="shard index must be from 0 to 3"):
        shard_from_env({"JOB_COMPLETION_INDEX": "4", "JOB_COMPLETION_COUNT": "4"})


# ----------------------------------------------------------------------------------------- datasets
def make_dataset(root: Path, n: int = 24) -> None:
    """n small images, every 5th with a red square (unsafe for the red double), one duplicate, one broken
    file, and a dataset_info.json that names some of them."""
    root.mkdir(parents=True)
    names = []
    for i in range(n):
        img = synthetic.landscape(i, 96)
        if i % 5 == 0:
            ImageDraw.Draw(img).rectangle((20, 20, 70, 70), fill=(240, 5, 5))
        name = f"{'sub/' if i % 3 == 0 else ''}img_{i:03d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(synthetic.encode(img))
        names.append(name)
    (root / "copy_of_1.png").write_bytes((root / names[1]).read_bytes())
    (root / "broken.png").write_bytes((root / names[2]).read_bytes()[:300])
    (root / INFO_FILE).write_text(
        json.dumps(
            {"instance_prompt": "a photo of sks dog", "images": names, "captions": {n: f"caption {n}" for n in names}}
        )
    )


def args_for(directory, *extra: str):
    parser = argparse.ArgumentParser()
    cli.configure_parser(parser)
    return parser.parse_args([str(directory), "--no-progress", *extra])


def comparable(report: dict, root: Path, quarantine: Path | None = None) -> dict:
    """A report without what legitimately differs between runs: timing, resume counts, shard bookkeeping,
    and the locations of the dataset and its quarantine."""
    text = json.dumps(report).replace(str(root), "ROOT")
    out = json.loads(text.replace(str(quarantine), "QUARANTINE") if quarantine else text)
    out.pop("finished_at"), out.pop("shards", None), out.pop("dataset")
    out["summary"].pop("resumed_from_journal")
    return out


def info_without_location(root: Path) -> dict:
    info = json.loads((root / INFO_FILE).read_text())
    info["safegen_scan"].pop("quarantine_dir")
    return info


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# -------------------------------------------------------------------------------- in-process shards
@pytest.fixture
def red(monkeypatch):
    from red_scan import moderators

    monkeypatch.setattr(cli, "_moderators", moderators)


def test_sharded_scan_and_merge_equal_one_scan_and_merge_is_idempotent(tmp_path, red, capsys):
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    make_dataset(one)
    shutil.copytree(one, sharded)
    assert cli.run(args_for(one, "--quarantine", str(tmp_path / "q1"))) == 3
    expected = json.loads((one / REPORT_FILE).read_text())

    for k in range(3):
        assert cli.run(args_for(sharded, "--quarantine", str(tmp_path / "q3"), "--shard", f"{k}/3")) in (0, 3)
        # Shards never touch dataset_info.json (they run at once): only the merge rewrites it.
        assert "safegen_scan" not in json.loads((sharded / INFO_FILE).read_text())
    assert cli.run(args_for(sharded, "--quarantine", str(tmp_path / "q3"), "--merge")) == 3
    merged_bytes = (sharded / REPORT_FILE).read_bytes()
    merged = json.loads(merged_bytes)
    assert merged["shards"] == {"count": 3, "merged": [0, 1, 2], "missing": []}
    assert comparable(merged, sharded, tmp_path / "q3") == comparable(expected, one, tmp_path / "q1")
    assert expected["summary"]["unsafe"] == 5 and expected["summary"]["invalid"] == 1
    assert info_without_location(sharded) == info_without_location(one)
    assert files_under(tmp_path / "q3") == files_under(tmp_path / "q1")
    assert files_under(sharded) - {p for p in files_under(sharded) if "safegen_scan" in p} == files_under(one) - {
        p for p in files_under(one) if "safegen_scan" in p
    }

    info_bytes = (sharded / INFO_FILE).read_bytes()
    assert cli.run(args_for(sharded, "--quarantine", str(tmp_path / "q3"), "--merge")) == 3
    assert (sharded / REPORT_FILE).read_bytes() == merged_bytes  # idempotent, byte for byte
    assert (sharded / INFO_FILE).read_bytes() == info_bytes
    assert "merged 3 of 3 shards" in capsys.readouterr().out


def test_merge_names_a_missing_shard_and_keeps_the_others(tmp_path, red, capsys):
    ds = tmp_path / "ds"
    make_dataset(ds)
    for k in (0, 2):
        cli.run(args_for(ds, "--shard", f"{k}/3"))
    assert cli.run(args_for(ds, "--merge")) == 2
    err = capsys.readouterr().err
    assert "shard(s) 1/3 have no report yet" in err
    partial = json.loads((ds / REPORT_FILE).read_text())
    assert partial["shards"] == {"count": 3, "merged": [0, 2], "missing": [1]}
    assert partial["summary"]["images"] == sum(1 for p in files_under(ds) if p.endswith(".png") and shard_of(p, 3) != 1)
    cli.run(args_for(ds, "--shard", "1/3"))
    assert cli.run(args_for(ds, "--merge")) == 3
    assert json.loads((ds / REPORT_FILE).read_text())["summary"]["images"] == 26


def test_merge_usage_errors(tmp_path, red, capsys):
    ds = tmp_path / "ds"
    make_dataset(ds, n=6)
    assert cli.run(args_for(ds, "--merge")) == 2
    assert "no shard reports" in capsys.readouterr().err
    cli.run(args_for(ds, "--shard", "0/2"))
    cli.run(args_for(ds, "--shard", "0/3"))
    assert cli.run(args_for(ds, "--merge")) == 2
    assert "different shard counts (2, 3): pass --shards N" in capsys.readouterr().err
    assert cli.run(args_for(ds, "--merge", "--shards", "3")) == 2  # 1/3 and 2/3 are missing
    assert cli.run(args_for(ds, "--shard", "0/2", "--report", str(tmp_path / "r.json"))) == 2
    assert "give --report to the --merge run" in capsys.readouterr().err
    cli.run(args_for(ds, "--shard", "1/2", "--quarantine", str(tmp_path / "q")))
    assert cli.run(args_for(ds, "--merge", "--shards", "2")) == 2
    assert "pass the same --quarantine to --merge" in capsys.readouterr().err


def test_unsafe_exit_code_for_jobs(tmp_path, red):
    """In a Kubernetes Job, findings must not look like a failed pod (it would be retried): --unsafe-exit-code 0."""
    ds = tmp_path / "ds"
    make_dataset(ds, n=6)
    assert cli.run(args_for(ds, "--shard", "0/1", "--unsafe-exit-code", "0")) == 0
    assert json.loads((ds / "safegen_scan_report.shard-0-of-1.json").read_text())["summary"]["unsafe"] == 2
    assert cli.run(args_for(ds, "--merge", "--unsafe-exit-code", "0")) == 0
    assert cli.run(args_for(ds, "--merge")) == 3


# ---------------------------------------------------------------- 4 processes as an Indexed Job would
def _env(**extra) -> dict:
    paths = [str(REPO / "services"), str(REPO / "gateway"), str(REPO / "tests"), str(HERE)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "OMP_NUM_THREADS": "1", **extra}


def test_four_process_indexed_job_with_a_killed_shard_equals_one_process(tmp_path):
    one, job = tmp_path / "one", tmp_path / "job"
    make_dataset(one, n=40)
    shutil.copytree(one, job)
    cmd = [sys.executable, str(HERE / "red_scan.py"), "--no-progress", "--batch-size", "1"]

    single = subprocess.run(
        [*cmd, str(one), "--quarantine", str(tmp_path / "q1")], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert single.returncode == 3, single.stderr

    job_cmd = [*cmd, str(job), "--quarantine", str(tmp_path / "qj")]
    procs = {
        k: subprocess.Popen(
            job_cmd,
            env=_env(
                JOB_COMPLETION_INDEX=str(k), JOB_COMPLETION_COUNT="4", SAFEGEN_TEST_SCAN_DELAY="0.2" if k == 2 else "0"
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for k in range(4)
    }
    journal = job / journal_name(Shard(2, 4).tag)
    deadline = time.monotonic() + 120
    try:
        while not (journal.exists() and journal.read_bytes().count(b"\n") >= 3):
            assert procs[2].poll() is None, procs[2].stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "shard 2 journaled nothing within 120 s"
            time.sleep(0.02)
        procs[2].send_signal(signal.SIGKILL)
        for k, p in procs.items():
            p.wait(timeout=120)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert procs[2].returncode == -signal.SIGKILL
    for k in (0, 1, 3):
        assert procs[k].returncode in (0, 3), procs[k].stderr.read().decode()[-2000:]
    done_before = journal.read_bytes().count(b"\n")
    owned = sum(1 for p in files_under(job) if p.endswith(".png") and shard_of(p, 4) == 2)
    assert done_before < owned, "the kill must land midway"

    merge = subprocess.run(
        [*cmd, str(job), "--quarantine", str(tmp_path / "qj"), "--merge"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merge.returncode == 2 and "shard(s) 2/4 have no report yet" in merge.stderr

    resumed = subprocess.run(
        job_cmd,
        env=_env(JOB_COMPLETION_INDEX="2", JOB_COMPLETION_COUNT="4"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode in (0, 3), resumed.stderr
    shard2 = json.loads((job / "safegen_scan_report.shard-2-of-4.json").read_text())
    assert shard2["summary"]["resumed_from_journal"] >= done_before - 1  # the kill may tear one line

    merge = subprocess.run(
        [*cmd, str(job), "--quarantine", str(tmp_path / "qj"), "--merge"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merge.returncode == 3, merge.stderr
    merged = json.loads((job / REPORT_FILE).read_text())
    expected = json.loads((one / REPORT_FILE).read_text())
    assert merged["shards"]["missing"] == [] and merged["summary"]["images"] == 42
    assert comparable(merged, job, tmp_path / "qj") == comparable(expected, one, tmp_path / "q1")
    assert info_without_location(job) == info_without_location(one)
    assert files_under(tmp_path / "qj") == files_under(tmp_path / "q1")
