"""Guardrail runtime settings (hot reload, audit log), typed and parsed once at start.

SAFEGEN_GUARDRAILS_RELOAD_SECONDS  how often SAFEGEN_GUARDRAILS_DIR is rescanned; 0 disables reload (default 1)
SAFEGEN_AUDIT_LOG                  a file path, or "stdout": one JSON line per decision (default: off)
SAFEGEN_AUDIT_CONTENT              true: audit lines carry the prompt text (never image bytes);
                                   false: a SHA-256 of the content instead (default false)
SAFEGEN_AUDIT_QUEUE                lines buffered for the writer; beyond it lines are dropped and counted
                                   (default 10000)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from safegen.core.settings import Env


@dataclass(frozen=True)
class PolicySettings:
    reload_seconds: float = 1.0
    audit_log: str = ""
    audit_content: bool = False
    audit_queue: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "PolicySettings":
        e = Env(env)
        return cls(
            reload_seconds=e.float("SAFEGEN_GUARDRAILS_RELOAD_SECONDS", 1.0, 0, 60),
            audit_log=e.str("SAFEGEN_AUDIT_LOG"),
            audit_content=e.bool("SAFEGEN_AUDIT_CONTENT", False),
            audit_queue=e.int("SAFEGEN_AUDIT_QUEUE", 10_000, 1, 10_000_000),
        )
