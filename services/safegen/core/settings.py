"""Typed settings read from the environment and validated at start; a bad value stops the process clearly.

Each service keeps its own frozen dataclass (prefix SAFEGEN_TEXT_, SAFEGEN_IMAGE_, SAFEGEN_GEN_, ...)
built with the readers below, so every setting is parsed and checked in one place, at start.
"""

from __future__ import annotations

import builtins
import enum
import os
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

E = TypeVar("E", bound=enum.Enum)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and what it accepts."""


class Env:
    """Reads typed values from an environment mapping (os.environ by default). The readers are named after
    the builtins they return, so their annotations spell those types `builtins.X`."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = os.environ if env is None else env

    def str(self, name: builtins.str, default: builtins.str = "") -> builtins.str:
        return self.env.get(name, default).strip()

    def int(
        self, name: builtins.str, default: builtins.int, lo: builtins.int | None = None, hi: builtins.int | None = None
    ) -> builtins.int:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            value = default
        else:
            try:
                value = int(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r}: expected an integer") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SettingsError(f"{name}={value}: must be between {lo} and {hi}")
        return value

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        lo: builtins.float | None = None,
        hi: builtins.float | None = None,
    ) -> builtins.float:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            value = default
        else:
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r}: expected a number") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SettingsError(f"{name}={value}: must be between {lo} and {hi}")
        return value

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        v = raw.strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}={raw!r}: expected true or false")

    def enum(self, name: builtins.str, kind: type[E], default: E) -> E:
        raw = self.env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return kind(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise SettingsError(f"{name}={raw!r}: expected one of {allowed}") from None


@dataclass(frozen=True)
class AwsSettings:
    """Shared AWS client settings. Credentials come from the standard chain (IRSA, env, profile), never here."""

    region: str = ""
    endpoint_url: str = ""  # e.g. a VPC endpoint or a local emulator
    max_attempts: int = 4  # total calls (first + retries with backoff) before UNAVAILABLE
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AwsSettings":
        e = Env(env)
        return cls(
            region=e.str("SAFEGEN_AWS_REGION", e.str("AWS_REGION", e.str("AWS_DEFAULT_REGION"))),
            endpoint_url=e.str("SAFEGEN_AWS_ENDPOINT_URL"),
            max_attempts=e.int("SAFEGEN_AWS_MAX_ATTEMPTS", 4, 1, 20),
            connect_timeout_s=e.float("SAFEGEN_AWS_CONNECT_TIMEOUT_S", 2.0, 0.1, 60),
            read_timeout_s=e.float("SAFEGEN_AWS_READ_TIMEOUT_S", 30.0, 0.1, 600),
        )

    def client(self, service: str, session: Any = None) -> Any:
        """A boto3 client with standard-mode retries (backoff on throttling) and bounded timeouts."""
        import boto3
        from botocore.config import Config

        # total_max_attempts counts the first call too (botocore's max_attempts counts only retries).
        cfg = Config(
            retries={"total_max_attempts": max(1, self.max_attempts), "mode": "standard"},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
        )
        kwargs: dict[str, Any] = {"config": cfg}
        if self.region:
            kwargs["region_name"] = self.region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return (session or boto3).client(service, **kwargs)


@dataclass(frozen=True)
class CoreSettings:
    """Process-wide settings: guardrails, drain timing, and where the gateway finds the other services."""

    guardrails_dir: str = ""
    default_guardrail: str = "default"
    grace_seconds: float = 10.0
    drain_delay_seconds: float = 0.0
    text_moderation_addr: str = ""  # empty: this process (all-in-one)
    image_moderation_addr: str = ""
    image_generation_addr: str = ""
    moderation_timeout_s: float = 30.0
    generation_timeout_s: float = 600.0
    log_level: str = "INFO"
    log_format: str = ""  # json or text; empty: text on a terminal, JSON otherwise (safegen.core.logging)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "CoreSettings":
        e = Env(env)
        level = e.str("SAFEGEN_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"SAFEGEN_LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING or ERROR")
        return cls(
            guardrails_dir=e.str("SAFEGEN_GUARDRAILS_DIR"),
            default_guardrail=e.str("SAFEGEN_DEFAULT_GUARDRAIL", "default"),
            grace_seconds=e.float("SAFEGEN_GRACE_SECONDS", 10.0, 0, 3600),
            drain_delay_seconds=e.float("SAFEGEN_DRAIN_DELAY_SECONDS", 0.0, 0, 300),
            text_moderation_addr=e.str("SAFEGEN_TEXT_MODERATION_ADDR"),
            image_moderation_addr=e.str("SAFEGEN_IMAGE_MODERATION_ADDR"),
            image_generation_addr=e.str("SAFEGEN_IMAGE_GENERATION_ADDR"),
            moderation_timeout_s=e.float("SAFEGEN_MODERATION_TIMEOUT_SECONDS", 30.0, 0.1, 3600),
            generation_timeout_s=e.float("SAFEGEN_GENERATION_TIMEOUT_SECONDS", 600.0, 1, 7200),
            log_level=level,
            log_format=_log_format(e.str("SAFEGEN_LOG_FORMAT").lower()),
        )


def _log_format(value: str) -> str:
    if value not in ("", "json", "text"):
        raise SettingsError(f"SAFEGEN_LOG_FORMAT={value!r}: expected json or text")
    return value
