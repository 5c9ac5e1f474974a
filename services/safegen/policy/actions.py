"""What a guardrail's policies do when they detect something: Bedrock's per-filter actions and safegen's SHADOW mode."""

from __future__ import annotations

import enum


class FilterAction(str, enum.Enum):
    """Bedrock's inputAction/outputAction for content filters, denied topics and words."""

    BLOCK = "BLOCK"  # intervene (the default)
    NONE = "NONE"  # detect and report only: the response and the metrics say what would have been blocked


class GuardrailMode(str, enum.Enum):
    """safegen.mode: how a whole guardrail acts on what its policies detect."""

    ENFORCE = "ENFORCE"  # every policy acts as configured
    SHADOW = "SHADOW"  # evaluate everything, intervene on nothing: try a stricter policy on live traffic
