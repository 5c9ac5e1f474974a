"""The `safegen scan-dataset` command line: flags, wiring of store, moderation and scan, exit codes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from safegen.scan.moderation import in_process_images, remote_images, text_checker
from safegen.scan.scanner import ScanOptions, scan_dataset
from safegen.scan.stores import REPORT_FILE, open_store

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
    parser = argparse.ArgumentParser(prog="safegen scan-dataset",
                                     description="Moderate a fine-tuning dataset (images + dataset_info.json) before training.")
    configure_parser(parser)
    return run(parser.parse_args(argv))

