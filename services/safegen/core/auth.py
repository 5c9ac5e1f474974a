"""API keys, scopes and per-key fair shares (no grpc): who is calling, may they call this service, may they call now.

The keys file (SAFEGEN_API_KEYS_FILE) holds only SHA-256 hashes of the keys:

    keys:
      - id: web-frontend                 # shown in logs and metrics; the key itself never is
        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        services: [safegen.v1.SafeGenerationService, safegen.v1.GuardrailService]   # optional: all
        rate: {requests_per_second: 5, burst: 10}                                   # optional: none
        max_in_flight: 4                                                            # optional

It is re-read when it changes (Kubernetes swaps a Secret's `..data` symlink), without a restart; a
file that does not parse keeps the previous keys and logs why. The gRPC interceptor and the HTTP
middleware both ask one `Guard`, so a key has one budget whichever door it uses.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import math
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import yaml

from safegen.core.settings import Env, SettingsError
from safegen.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from safegen.core.ratelimit import TokenBucket

log = logging.getLogger("safegen.auth")

#: Services every caller may use without a key: probes and tooling must work before any key exists.
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
#: The identity of callers when no keys file is configured (one shared budget, as before keys existed).
ANONYMOUS = "anonymous"
#: The identity of this process calling itself (the all-in-one gateway, the HTTP front).
INTERNAL = "internal"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, as written in the keys file (`printf %s KEY | sha256sum`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def safegen_service_names() -> tuple[str, ...]:
    """Full names of every safegen.v1 service, for validating `services:` in the keys file."""
    from safegen.v1 import (
        guardrail_pb2,
        image_generation_pb2,
        image_moderation_pb2,
        safe_generation_pb2,
        text_moderation_pb2,
    )

    return tuple(
        s.full_name
        for m in (text_moderation_pb2, image_moderation_pb2, image_generation_pb2, safe_generation_pb2, guardrail_pb2)
        for s in m.DESCRIPTOR.services_by_name.values()
    )


@dataclass(frozen=True)
class Rate:
    """A token bucket: `requests_per_second` refill, `burst` capacity."""

    requests_per_second: float
    burst: int


@dataclass(frozen=True)
class ApiKey:
    """One entry of the keys file (the hash, never the key)."""

    id: str
    sha256: str
    services: frozenset[str] | None = None  # None: every service
    rate: Rate | None = None
    max_in_flight: int | None = None  # None: the process default (SAFEGEN_KEY_MAX_IN_FLIGHT)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key id, ANONYMOUS (no keys configured) or INTERNAL (this process)."""

    id: str
    key: ApiKey | None = None
    on_behalf_of: str = ""  # INTERNAL calls made for a keyed caller (the HTTP front forwarding): its key id
    for_key: str = ""  # INTERNAL calls of the gateway for a keyed caller: whose fair share they count in

    @property
    def share_id(self) -> str | None:
        """The key whose fair share this call counts in (None: nobody's, e.g. no keys configured)."""
        if self.key is not None:
            return self.key.id
        return self.for_key or self.on_behalf_of or None

    @property
    def internal(self) -> bool:
        return self.id == INTERNAL

    @property
    def label(self) -> str:
        """The key id for logs and metrics (never the key)."""
        return self.on_behalf_of or self.id


def parse_keys(doc: object, source: str) -> dict[str, ApiKey]:
    """Validates a parsed keys file; returns sha256 -> ApiKey. SettingsError names the entry and field."""
    if not isinstance(doc, dict) or set(doc) != {"keys"} or not isinstance(doc["keys"], list):
        raise SettingsError(f"{source}: expected a mapping with one key, `keys:`, holding a list")
    known = set(safegen_service_names())
    by_hash: dict[str, ApiKey] = {}
    ids: set[str] = set()
    for i, entry in enumerate(doc["keys"]):
        where = f"{source}: keys[{i}]"
        if not isinstance(entry, dict):
            raise SettingsError(f"{where}: expected a mapping with id and sha256")
        extra = set(entry) - {"id", "sha256", "services", "rate", "max_in_flight"}
        if extra:
            raise SettingsError(
                f"{where}: unknown field(s) {sorted(extra)}; allowed: id, sha256, services, rate, max_in_flight"
            )
        kid, digest = entry.get("id"), entry.get("sha256")
        if not isinstance(kid, str) or not _ID.match(kid):
            raise SettingsError(f"{where}.id: {kid!r} must be 1-64 of letters, digits and ._:@- (it appears in logs)")
        if kid in (ANONYMOUS, INTERNAL) or kid in ids:
            raise SettingsError(f"{where}.id: {kid!r} is reserved or used twice")
        if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
            raise SettingsError(
                f"{where}.sha256: expected 64 hex digits (printf %s KEY | sha256sum), not the key itself"
            )
        digest = digest.lower()
        if digest in by_hash:
            raise SettingsError(f"{where}.sha256: the same key hash is listed for {by_hash[digest].id!r}")
        services = entry.get("services")
        if services is not None:
            if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
                raise SettingsError(f"{where}.services: expected a list of full service names")
            unknown = sorted(set(services) - known)
            if unknown:
                raise SettingsError(f"{where}.services: unknown {unknown}; known: {', '.join(sorted(known))}")
            services = frozenset(services)
        rate = entry.get("rate")
        if rate is not None:
            if (
                not isinstance(rate, dict)
                or set(rate) - {"requests_per_second", "burst"}
                or "requests_per_second" not in rate
            ):
                raise SettingsError(f"{where}.rate: expected {{requests_per_second: N, burst: M}}")
            rps = rate["requests_per_second"]
            if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not 0 < rps <= 1_000_000:
                raise SettingsError(f"{where}.rate.requests_per_second: {rps!r} must be a number in (0, 1000000]")
            burst = rate.get("burst", max(1, math.ceil(rps)))  # default: one second's worth
            if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 1_000_000:
                raise SettingsError(f"{where}.rate.burst: {burst!r} must be an integer in [1, 1000000]")
            rate = Rate(float(rps), burst)
        mif = entry.get("max_in_flight")
        if mif is not None and (isinstance(mif, bool) or not isinstance(mif, int) or not 1 <= mif <= 100_000):
            raise SettingsError(f"{where}.max_in_flight: {mif!r} must be an integer in [1, 100000]")
        ids.add(kid)
        by_hash[digest] = ApiKey(kid, digest, services, rate, mif)
    return by_hash


def load_keys(path: str | os.PathLike[str]) -> dict[str, ApiKey]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise SettingsError(f"SAFEGEN_API_KEYS_FILE={str(p)!r}: cannot read: {e.strerror or e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SettingsError(f"SAFEGEN_API_KEYS_FILE={str(p)!r}: not valid YAML: {e}") from None
    return parse_keys(doc, str(p))


class KeyStore:
    """The keys of one file, re-read when its (symlink-followed) identity or mtime changes."""

    def __init__(
        self, path: str | os.PathLike[str], check_interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ):
        self.path = Path(path)
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._keys = load_keys(self.path)  # at start a bad file stops the process
        self._stamp = self._stat()
        self._checked = clock()
        self._lock = threading.Lock()
        log.info("API keys: %d key(s) from %s", len(self._keys), self.path)

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)  # follows symlinks: a swapped ..data link changes st_ino
        except OSError:
            return None
        return (st.st_ino, st.st_dev, st.st_mtime_ns, st.st_size)

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked < self.check_interval_s:
            return
        with self._lock:
            if now - self._checked < self.check_interval_s:
                return
            self._checked = now
            stamp = self._stat()
            if stamp == self._stamp or stamp is None:
                return  # unchanged, or mid-rotation (gone for a moment): keep the keys we have
            try:
                keys = load_keys(self.path)
            except SettingsError as e:
                log.warning(
                    "API keys file changed but was not loaded, keeping %d previous key(s): %s", len(self._keys), e
                )
                self._stamp = stamp
                return
            self._keys, self._stamp = keys, stamp
            log.info("API keys reloaded: %d key(s) from %s", len(keys), self.path)

    def lookup(self, key: str) -> ApiKey | None:
        self._maybe_reload()
        return self._keys.get(hash_key(key))

    def by_id(self, key_id: str) -> ApiKey | None:
        self._maybe_reload()
        return next((k for k in self._keys.values() if k.id == key_id), None)

    @property
    def keys(self) -> list[ApiKey]:
        self._maybe_reload()
        return list(self._keys.values())


@dataclass(frozen=True)
class SecuritySettings:
    """SAFEGEN_API_KEYS_FILE and the per-key defaults, read once at start."""

    api_keys_file: str = ""
    key_max_in_flight: int = 8  # per key, across the process's RPCs (only when keys are configured)
    keys_check_interval_s: float = 1.0
    max_concurrent_rpcs: int = 100  # per service, callers from outside this process; 0 = no cap
    backend_api_key: str = field(default="", repr=False)  # split mode: the key the gateway sends to backends

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SecuritySettings":
        e = Env(env)
        path = e.str("SAFEGEN_API_KEYS_FILE")
        if path and not os.path.isfile(path):
            raise SettingsError(f"SAFEGEN_API_KEYS_FILE={path!r}: no such file")
        return cls(
            api_keys_file=path,
            key_max_in_flight=e.int("SAFEGEN_KEY_MAX_IN_FLIGHT", 8, 1, 100_000),
            keys_check_interval_s=e.float("SAFEGEN_API_KEYS_CHECK_SECONDS", 1.0, 0.0, 3600),
            max_concurrent_rpcs=e.int("SAFEGEN_MAX_CONCURRENT_RPCS", 100, 0, 100_000),
            backend_api_key=e.str("SAFEGEN_BACKEND_API_KEY"),
        )


@dataclass
class _InFlight:
    count: int = 0


class Guard:
    """Authenticates `authorization` values, checks scopes, and keeps each key's rate and in-flight share."""

    def __init__(
        self,
        store: KeyStore | None,
        key_max_in_flight: int = 8,
        internal_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_concurrent_rpcs: int = 100,
    ):
        self.store = store
        self.key_max_in_flight = key_max_in_flight
        self.max_concurrent_rpcs = max_concurrent_rpcs
        #: What the gateway sends to backends in other processes (SAFEGEN_BACKEND_API_KEY), if anything.
        self.backend_authorization = ""
        #: A per-process secret this process sends to itself (the HTTP front, the all-in-one gateway).
        self.internal_token = internal_token or secrets.token_urlsafe(32)
        self._clock = clock
        self._buckets: dict[tuple[str, Rate], TokenBucket] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._service_busy: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: SecuritySettings) -> "Guard":
        if not s.api_keys_file:
            log.warning(
                "SAFEGEN_API_KEYS_FILE is not set: this server is UNAUTHENTICATED; every caller on the "
                "network can use every service"
            )
            guard = cls(None, s.key_max_in_flight, max_concurrent_rpcs=s.max_concurrent_rpcs)
        else:
            guard = cls(
                KeyStore(s.api_keys_file, s.keys_check_interval_s),
                s.key_max_in_flight,
                max_concurrent_rpcs=s.max_concurrent_rpcs,
            )
        guard.backend_authorization = f"Bearer {s.backend_api_key}" if s.backend_api_key else ""
        return guard

    @property
    def enabled(self) -> bool:
        return self.store is not None

    @property
    def internal_authorization(self) -> str:
        return f"Bearer {self.internal_token}"

    def authenticate(self, authorization: str | None, on_behalf_of: str = "", for_key: str = "") -> Principal:
        """The caller behind an `authorization` value ("Bearer KEY"); Unauthenticated if there is none.

        `on_behalf_of` (the x-safegen-key-id metadata) is believed only with this process's own token."""
        if authorization and secrets.compare_digest(authorization.encode(), self.internal_authorization.encode()):
            return Principal(INTERNAL, on_behalf_of=on_behalf_of[:64], for_key=for_key[:64])
        if self.store is None:
            return Principal(ANONYMOUS)
        if not authorization:
            raise Unauthenticated("missing API key: send the header `authorization: Bearer <key>`")
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            hint = (
                " (AWS SigV4 signatures are not accepted: Bedrock-style clients must send the safegen key "
                "as `Authorization: Bearer <key>`)"
                if scheme.upper().startswith("AWS4-")
                else ""
            )
            raise Unauthenticated(f"unsupported authorization scheme {scheme[:20]!r}: send `Bearer <key>`{hint}")
        found = self.store.lookup(key.strip())
        if found is None:
            raise Unauthenticated("invalid API key (unknown or revoked)")
        return Principal(found.id, found)

    @staticmethod
    def authorize(principal: Principal, service: str) -> None:
        key = principal.key
        if key is not None and key.services is not None and service not in key.services:
            raise PermissionDenied(
                f"API key {key.id!r} may not call {service}; it may call: "
                f"{', '.join(sorted(key.services)) or 'nothing'}"
            )

    def check_rate(self, principal: Principal) -> None:
        """Spends one request of the key's own bucket; ResourceExhausted with retry_after_s when empty."""
        key = principal.key
        if key is None or key.rate is None:
            return
        bucket_key = (key.id, key.rate)  # a rotated file with a new rate starts a new bucket
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.setdefault(
                    bucket_key, TokenBucket(key.rate.requests_per_second, key.rate.burst, self._clock)
                )
        wait = bucket.take()
        if wait > 0:
            raise ResourceExhausted(
                f"rate limit of API key {key.id!r} exceeded ({key.rate.requests_per_second:g} requests/s, "
                f"burst {key.rate.burst}); retry in {wait:.2f} s",
                retry_after_s=wait,
            )

    def enter(self, principal: Principal) -> bool:
        """Takes one of the key's in-flight slots (its fair share of the process); False if it has none left.

        Only keyed callers are counted: anonymous and internal callers are bounded by the server's caps."""
        key = principal.key
        if key is None:
            return True
        limit = key.max_in_flight or self.key_max_in_flight
        with self._lock:
            slot = self._in_flight.setdefault(key.id, _InFlight())
            if slot.count >= limit:
                return False
            slot.count += 1
            return True

    def leave(self, principal: Principal) -> None:
        if principal.key is None:
            return
        with self._lock:
            slot = self._in_flight.get(principal.key.id)
            if slot is not None and slot.count > 0:
                slot.count -= 1

    def admit(self, principal: Principal, service: str) -> "Admission":
        """Every cheap check before any work, in order: scope, the service's concurrency cap, the key's
        in-flight share, the key's rate. Returns the admission to `release()` when the call ends.

        INTERNAL calls pass: the outside call that caused them was admitted (and charged) already."""
        if principal.internal:
            if principal.on_behalf_of and self.store is not None:
                # The HTTP front forwarding a keyed caller: the key's scope still applies (its rate and share
                # were charged at the HTTP door). An unknown id (revoked meanwhile) may call nothing.
                key = self.store.by_id(principal.on_behalf_of)
                self.authorize(
                    Principal(principal.on_behalf_of, key or ApiKey(principal.on_behalf_of, "", frozenset())), service
                )
            return Admission(self, principal, None, False)
        self.authorize(principal, service)
        if self.max_concurrent_rpcs:
            with self._lock:
                busy = self._service_busy.get(service, 0)
                if busy >= self.max_concurrent_rpcs:
                    raise ResourceExhausted(
                        f"{service} is at its limit of {self.max_concurrent_rpcs} concurrent calls "
                        f"(SAFEGEN_MAX_CONCURRENT_RPCS); retry shortly",
                        retry_after_s=1.0,
                    )
                self._service_busy[service] = busy + 1
        admission = Admission(self, principal, service if self.max_concurrent_rpcs else None, False)
        try:
            if not self.enter(principal):
                raise ResourceExhausted(
                    f"API key {principal.id!r} already has {self.in_flight_limit(principal)} calls in flight, its "
                    f"share of this server; wait for one to finish",
                    retry_after_s=1.0,
                )
            admission.entered = True
            self.check_rate(principal)
        except BaseException:
            admission.release()
            raise
        return admission

    def in_flight_limit(self, principal: Principal) -> int:
        return principal.key.max_in_flight if principal.key and principal.key.max_in_flight else self.key_max_in_flight


class Admission:
    """What `Guard.admit` took (a service slot, a key slot); `release()` gives both back, once."""

    __slots__ = ("guard", "principal", "service", "entered")

    def __init__(self, guard: Guard, principal: Principal, service: str | None, entered: bool):
        self.guard, self.principal, self.service, self.entered = guard, principal, service, entered

    def release(self) -> None:
        g = self.guard
        if self.service is not None:
            with g._lock:
                g._service_busy[self.service] = max(0, g._service_busy.get(self.service, 1) - 1)
            self.service = None
        if self.entered:
            g.leave(self.principal)
            self.entered = False


#: The caller when no key is configured. Principal is a frozen dataclass, so one shared default is safe.
ANONYMOUS_PRINCIPAL = Principal(ANONYMOUS)
#: The caller of the RPC or HTTP request being handled (set by the interceptor / middleware).
current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "safegen_principal", default=ANONYMOUS_PRINCIPAL
)

_process_guard: Guard | None = None
_process_lock = threading.Lock()


def process_guard(env: Mapping[str, str] | None = None) -> Guard:
    """The process's one Guard, built from the environment on first use (at server start)."""
    global _process_guard
    with _process_lock:
        if _process_guard is None:
            _process_guard = Guard.from_settings(SecuritySettings.from_env(env))
        return _process_guard
