"""The `safegen scan-dataset` command line: flags, wiring of store, state, moderation and scan, exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

from safegen.scan.merge import merge_shards
from safegen.scan.moderation import in_process_images, remote_images, text_checker
from safegen.scan.report import atomic_write_json
from safegen.scan.scanner import ScanOptions, report_location, scan_dataset
from safegen.scan.shard import parse_shard, shard_from_env
from safegen.scan.state import open_state
from safegen.scan.stores import REPORT_FILE, open_store


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        help='dataset folder or s3://bucket/prefix: images plus dataset_info.json ({"instance_prompt": ...})',
    )
    parser.add_argument(
        "--target",
        default="",
        help="host:port of a running safegen (image and text moderation); "
        "default: moderate in-process with the local detectors",
    )
    parser.add_argument(
        "--text-target",
        default="",
        metavar="HOST:PORT",
        help="host:port of the text moderation service when it is not at --target "
        "(in a cluster: the text-moderation Service)",
    )
    parser.add_argument("--guardrail", default="", help="guardrail id (default: the default guardrail)")
    parser.add_argument(
        "--source",
        choices=["input", "output"],
        default="input",
        help="input: user-supplied training images (default); output: generated images",
    )
    parser.add_argument("--report", default="", help=f"report path (default STATE/{REPORT_FILE})")
    parser.add_argument(
        "--state-dir",
        default="",
        help="where the journal(s) and report(s) are kept: a folder or "
        "an s3:// prefix (default DIR for a folder, "
        "./.safegen-scan/BUCKET_PREFIX for s3://)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quarantine",
        default="",
        metavar="QDIR",
        help="move unsafe images to QDIR (an s3:// prefix for an s3:// dataset) and rewrite "
        "dataset_info.json without them",
    )
    mode.add_argument("--delete-unsafe", action="store_true", help="delete unsafe images (irreversible)")
    shards = parser.add_mutually_exclusive_group()
    shards.add_argument(
        "--shard",
        default="",
        metavar="K/N",
        help="scan only shard K of N (K from 0), by a stable hash of each image's name; default "
        "from JOB_COMPLETION_INDEX/JOB_COMPLETION_COUNT in a Kubernetes Indexed Job",
    )
    shards.add_argument(
        "--merge",
        action="store_true",
        help="combine the shard reports in the state folder into one report and rewrite "
        "dataset_info.json once (after every shard has run)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=0,
        metavar="N",
        help="with --merge: the shard count, when the state folder holds reports of several runs",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="images per request (1-20)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request with --target")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--unsafe-exit-code",
        type=int,
        default=3,
        metavar="CODE",
        help="exit code when unsafe content was found (default 3; a Kubernetes Job sets 0, so "
        "findings are not retried as a failed pod)",
    )


def run(args, env: Mapping[str, str] | None = None) -> int:
    """0: everything safe; 3 (--unsafe-exit-code): unsafe content found (reported, and quarantined/deleted if
    asked); 2: error
    (including a merge that found a shard missing: its report is written and names the shard)."""
    env = os.environ if env is None else env
    if not 1 <= args.batch_size <= 20:
        print("error: --batch-size must be from 1 to 20", file=sys.stderr)
        return 2
    try:
        store = open_store(args.directory, args.quarantine, args.state_dir)
        state = open_state(args.state_dir, store)
        if args.merge:
            return _merge(args, store, state)
        if args.shards:
            raise ValueError("--shards N goes with --merge; a shard is chosen with --shard K/N")
        shard = parse_shard(args.shard) if args.shard else shard_from_env(env)
        moderate, backend_of, text = _moderators(args)
        opts = ScanOptions(
            quarantine=args.quarantine or None,
            delete_unsafe=args.delete_unsafe,
            batch_size=args.batch_size,
            report=Path(args.report) if args.report else None,
            progress=not args.no_progress,
            shard=shard,
            state=state,
        )
        report = scan_dataset(store, moderate, text, opts, backend=backend_of, guardrail_id=args.guardrail or "default")
    except Exception as e:  # noqa: BLE001 - a CLI prints one clear line, not a traceback
        return _error(e)
    s = report["summary"]
    print(
        f"{'shard ' + str(shard) + ': ' if shard else ''}{s['images']} images: {s['safe']} safe, "
        f"{s['unsafe']} unsafe, {s['invalid']} invalid ({s['resumed_from_journal']} from an earlier run); prompt: "
        f"{(report['instance_prompt'] or {}).get('verdict', 'none')}; report: {report_location(store, opts)}"
    )
    for a in report["actions"]:
        print(f"  {a['kind']}: {a['file']}" + (f" -> {a['to']}" if a.get("to") else ""))
    return args.unsafe_exit_code if (s["unsafe"] or s["prompt_unsafe"]) else 0


def _moderators(args):
    """(image batch function, backend name getter, text function): a running service with --target,
    otherwise the moderators in this process."""
    from safegen.v1 import common_pb2

    from safegen.core.types import Source

    if args.target:
        pb_source = common_pb2.SOURCE_INPUT if args.source == "input" else common_pb2.SOURCE_OUTPUT
        moderate, backend_of = remote_images(args.target, args.guardrail, pb_source, args.timeout)
    else:
        source = Source.INPUT if args.source == "input" else Source.OUTPUT
        moderate, name = in_process_images(args.guardrail, source)
        backend_of = lambda: name  # noqa: E731
    text = text_checker(args.text_target or args.target or None, args.guardrail, args.timeout)
    return moderate, backend_of, text


def _merge(args, store, state) -> int:
    write = None
    if args.report:

        def write(report):
            atomic_write_json(Path(args.report), report)
            return args.report

    merged = merge_shards(store, state, count=args.shards or None, write_report=write)
    s, shards = merged.report["summary"], merged.report["shards"]
    print(
        f"merged {len(shards['merged'])} of {shards['count']} shards: {s['images']} images: {s['safe']} safe, "
        f"{s['unsafe']} unsafe, {s['invalid']} invalid; prompt: "
        f"{(merged.report['instance_prompt'] or {}).get('verdict', 'none')}; report: {merged.location}"
    )
    if merged.missing:
        names = ", ".join(f"{k}/{shards['count']}" for k in merged.missing)
        print(
            f"error: shard(s) {names} have no report yet: run them again (each resumes from its journal), "
            "then merge again; the merged report lists them under shards.missing",
            file=sys.stderr,
        )
        return 2
    return args.unsafe_exit_code if (s["unsafe"] or s["prompt_unsafe"]) else 0


def _error(e: Exception) -> int:
    msg = getattr(e, "message", None) or (e.details() if hasattr(e, "details") else str(e))
    print(f"error: {msg}", file=sys.stderr)
    # The CLI's exit codes (README, "The CLI"): a service's error status is 1, a bad dataset or option 2.
    return 1 if hasattr(e, "code") and hasattr(e, "details") else 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="safegen scan-dataset",
        description="Moderate a fine-tuning dataset (images + dataset_info.json) before training.",
    )
    configure_parser(parser)
    return run(parser.parse_args(argv))
