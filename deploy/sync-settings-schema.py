"""Updates the chart schema's per-service `settings` names from the SAFEGEN_* variables the code reads.

    python deploy/sync-settings-schema.py          # rewrite deploy/k8s/safegen/values.schema.json
    python deploy/sync-settings-schema.py --check  # exit 1 when the schema lags the code

Typed values keys (backend, model, ...) are rendered by the templates and stay out of the `settings` enums.
Document a new variable in values.yaml next to its service's `settings` key as well.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "deploy" / "k8s" / "safegen" / "values.schema.json"
PREFIXES = {"textModeration": "SAFEGEN_TEXT_", "imageModeration": "SAFEGEN_IMAGE_", "imageGeneration": "SAFEGEN_GEN_"}
# Variables the templates set from typed keys, or that belong to the gateway (core settings).
TYPED = {
    "SAFEGEN_TEXT_BACKEND",
    "SAFEGEN_TEXT_COMPREHEND_ENDPOINT_ARN",
    "SAFEGEN_TEXT_BEDROCK_GUARDRAIL_ID",
    "SAFEGEN_TEXT_BEDROCK_GUARDRAIL_VERSION",
    "SAFEGEN_IMAGE_BACKEND",
    "SAFEGEN_IMAGE_DETECTORS",
    "SAFEGEN_IMAGE_RATE_LIMIT",
    "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID",
    "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_VERSION",
    "SAFEGEN_GEN_BACKEND",
    "SAFEGEN_GEN_MODEL",
    "SAFEGEN_GEN_DEVICE",
    "SAFEGEN_GEN_SAGEMAKER_ENDPOINT",
    "SAFEGEN_GEN_BEDROCK_MODEL_ID",
    "SAFEGEN_TEXT_MODERATION_ADDR",
    "SAFEGEN_IMAGE_MODERATION_ADDR",
    "SAFEGEN_IMAGE_GENERATION_ADDR",
}


def read_by_code() -> set[str]:
    names: set[str] = set()
    for folder in ("services", "gateway"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(re.findall(r"[\"'](SAFEGEN_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    schema = json.loads(SCHEMA.read_text())
    names = read_by_code()
    changed = []
    for key, prefix in PREFIXES.items():
        enum = schema["properties"][key]["properties"]["settings"]["propertyNames"]["enum"]
        want = sorted(n for n in names if n.startswith(prefix) and n not in TYPED)
        if enum != want:
            changed.append(f"{key}: +{sorted(set(want) - set(enum))} -{sorted(set(enum) - set(want))}")
            enum[:] = want
    if args.check:
        for line in changed:
            print(f"values.schema.json lags the code: {line}", file=sys.stderr)
        return 1 if changed else 0
    SCHEMA.write_text(json.dumps(schema, indent=2) + "\n")
    print("\n".join(changed) or "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
