"""`safegen scan-dataset --merge`: combine the shard reports of a sharded scan into one report and one
rewritten dataset_info.json.

The merge reads safegen_scan_report.shard-K-of-N.json from the state folder, unions the images and
actions (shards own disjoint names, so nothing is counted twice), and rewrites dataset_info.json once
without every quarantined file (shards never rewrite it: they run at the same time). A shard with no
report is named in the merged report (`shards.missing`) and the merge fails, but everything the other
shards found is kept and written; re-running the shard (it resumes from its journal) and then the merge
completes it. Merging again writes the same bytes: the merge is idempotent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from safegen.scan.report import json_bytes, rewrite_info, summarize
from safegen.scan.stores import INFO_FILE, REPORT_FILE, REPORT_PREFIX, quarantine_label

_SHARD_REPORT = re.compile(rf"^{REPORT_PREFIX}\.shard-(\d+)-of-(\d+)\.json$")


@dataclass
class Merged:
    report: dict
    missing: list[int]
    location: str


def merge_shards(store, state, count: int | None = None, report_name: str = REPORT_FILE, write_report=None) -> Merged:
    """Merges the shard reports in `state` for `store`; writes the merged report (to `state`, or through
    `write_report(report)`) and, if any shard moved files, the rewritten dataset_info.json."""
    found: dict[int, set[int]] = {}
    for name in state.names(f"{REPORT_PREFIX}.shard-"):
        m = _SHARD_REPORT.match(name)
        if m:
            found.setdefault(int(m.group(2)), set()).add(int(m.group(1)))
    if not found:
        raise ValueError(
            f"no shard reports ({REPORT_PREFIX}.shard-K-of-N.json) in {state.label}: "
            "run the shards first (--shard K/N, or as an Indexed Job), with the same --state-dir"
        )
    if count is None:
        if len(found) > 1:
            raise ValueError(
                f"{state.label} holds shard reports of {len(found)} runs with different shard "
                f"counts ({', '.join(str(n) for n in sorted(found))}): pass --shards N"
            )
        count = next(iter(found))
    elif count not in found:
        raise ValueError(
            f"no shard report of a {count}-shard run in {state.label} (found: "
            f"{', '.join(f'{n} shards' for n in sorted(found))})"
        )
    present = sorted(found[count])
    missing = [k for k in range(count) if k not in present]

    reports = []
    for k in present:
        name = f"{REPORT_PREFIX}.shard-{k}-of-{count}.json"
        try:
            reports.append(json.loads(state.read(name) or b""))
        except json.JSONDecodeError as e:
            raise ValueError(f"{state.where(name)}: not valid JSON ({e}): re-run shard {k}/{count}") from None
    quarantines = {r.get("quarantine") for r in reports} - {None}
    ours = quarantine_label(store)
    if quarantines and quarantines != {ours}:
        raise ValueError(
            f"the shards quarantined into {', '.join(sorted(quarantines))}: pass the same "
            f"--quarantine to --merge (got {ours or 'none'}), so it can rewrite {INFO_FILE}"
        )
    guardrails = {r.get("guardrail_id") for r in reports}
    if len(guardrails) > 1:
        raise ValueError(
            f"shards were scanned with different guardrails ({', '.join(sorted(map(str, guardrails)))}): "
            "re-run them with the same --guardrail"
        )

    images: dict[str, dict] = {}
    actions: dict[tuple[str, str], dict] = {}
    for r in reports:
        for e in r.get("images", []):
            images[e["file"]] = e
        for a in r.get("actions", []):
            actions[(a["kind"], a["file"])] = a
    first = reports[0]
    prompt_result = first.get("instance_prompt")
    prompt_result = {k: v for k, v in prompt_result.items() if k != "text"} if prompt_result else None
    report = {
        "dataset": store.label,
        "backend": next((r["backend"] for r in reports if r.get("backend")), ""),
        "guardrail_id": first.get("guardrail_id", ""),
        "finished_at": max(r.get("finished_at", "") for r in reports),
        "instance_prompt": first.get("instance_prompt"),
        "summary": summarize(
            list(images.values()), sum(r["summary"].get("resumed_from_journal", 0) for r in reports), prompt_result
        ),
        "actions": sorted(actions.values(), key=lambda a: (a["file"], a["kind"])),
        "images": sorted(images.values(), key=lambda e: e["file"]),
        "shards": {"count": count, "merged": present, "missing": missing},
    }

    moved = [a for a in report["actions"] if a["kind"] == "moved"]
    raw = store.info_bytes()
    if moved and raw is not None:
        try:
            info = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{store.label}/{INFO_FILE}: not valid JSON: {e}") from None
        if isinstance(info, dict):
            rewrite_info(store, info, raw, moved)  # idempotent: a second merge writes the same bytes
    if write_report is not None:
        location = write_report(report)
    else:
        state.write(report_name, json_bytes(report))
        location = state.where(report_name)
    return Merged(report, missing, location)
