"""The scan's outputs: the JSON report (summary, verdicts, actions) and the rewritten dataset_info.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

from safegen.core.files import atomic_write
from safegen.scan.stores import quarantine_label


def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, json_bytes(obj))


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def summarize(images: list[dict], resumed: int, prompt_result: dict | None) -> dict:
    return {
        "images": len(images),
        "safe": sum(1 for e in images if e.get("verdict") == "SAFE"),
        "unsafe": sum(1 for e in images if e.get("verdict") == "UNSAFE"),
        "invalid": sum(1 for e in images if e.get("verdict") == "INVALID"),
        "resumed_from_journal": resumed,
        "prompt_unsafe": bool(prompt_result and prompt_result.get("verdict") == "UNSAFE"),
    }


def build_report(
    label: str,
    backend: str,
    guardrail_id: str,
    prompt: str | None,
    prompt_result: dict | None,
    images: list[dict],
    actions: list[dict],
    resumed: int,
) -> dict:
    return {
        "dataset": label,
        "backend": backend,
        "guardrail_id": guardrail_id,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "instance_prompt": {"text": prompt, **prompt_result} if prompt_result else None,
        "summary": summarize(images, resumed, prompt_result),
        "actions": actions,
        "images": sorted(images, key=lambda e: e["file"]),
    }


def rewrite_info(store, info: dict, raw_info: bytes, moved: list[dict]) -> None:
    """Backs up the original dataset_info.json into the quarantine (once), then rewrites it without any
    reference to the moved files, recording them under `safegen_scan.quarantined`."""
    store.backup_info(raw_info)
    gone = {a["file"] for a in moved} | {a["file"].rsplit("/", 1)[-1] for a in moved}
    new_info = without_files(info, gone)
    scan_meta = dict(new_info.get("safegen_scan") or {})
    scan_meta["quarantined"] = sorted(set(scan_meta.get("quarantined", [])) | {a["file"] for a in moved})
    scan_meta["quarantine_dir"] = quarantine_label(store)
    new_info["safegen_scan"] = scan_meta
    store.write_info(json_bytes(new_info))


def without_files(obj, gone: set[str]):
    """dataset_info.json with every reference to a quarantined file removed (list items, dict keys,
    and records whose file/image/path field names one), other keys untouched."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in gone:
                continue
            out[k] = without_files(v, gone)
        return out
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, str) and item in gone:
                continue
            if isinstance(item, dict) and any(
                isinstance(item.get(f), str) and item[f] in gone
                for f in ("file", "file_name", "filename", "image", "path")
            ):
                continue
            out.append(without_files(item, gone))
        return out
    return obj
