"""TLS for every door: gRPC server credentials and the HTTP front's SSLContext from one certificate pair,
optional mTLS, reloaded when the files change (cert-manager rotation), and client credentials for the
gateway's backend channels.

Settings (read once at start; a missing or unreadable file stops the process with its name):
  SAFEGEN_TLS_CERT_FILE / SAFEGEN_TLS_KEY_FILE   PEM certificate chain and key (both or neither)
  SAFEGEN_TLS_CLIENT_CA_FILE                     PEM CA bundle: clients must present a certificate it signed
  SAFEGEN_LOOPBACK_PORT                          with TLS on, the plaintext port on 127.0.0.1 that this
                                                 process's own calls and exec probes use (0: any free port)
  SAFEGEN_BACKEND_TLS_CA_FILE                    the gateway verifies backends against this CA (turns TLS on)
  SAFEGEN_BACKEND_TLS_CERT_FILE / _KEY_FILE      the gateway's client certificate for backends with mTLS
  SAFEGEN_BACKEND_TLS_SERVER_NAME                name to verify instead of the address's host (optional)
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from safegen.core.settings import Env, SettingsError

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("safegen.tls")


def _read(var: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SettingsError(f"{var}={path!r}: cannot read: {e.strerror or e}") from None
    if b"-----BEGIN" not in data:
        raise SettingsError(f"{var}={path!r}: not a PEM file (no -----BEGIN line)")
    return data


#: What identifies a file's content without reading it: inode, device, mtime (ns), size.
FileStamp = tuple[int, int, int, int]


def _stamp(*paths: str) -> tuple[FileStamp, ...] | None:
    out: list[FileStamp] = []
    for p in paths:
        if not p:
            continue
        try:
            st = os.stat(p)  # follows the ..data symlink a mounted Secret swaps on rotation
        except OSError:
            return None
        out.append((st.st_ino, st.st_dev, st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    loopback_port: int = 0
    backend_ca_file: str = ""
    backend_cert_file: str = ""
    backend_key_file: str = ""
    backend_server_name: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file)

    @property
    def backend_enabled(self) -> bool:
        return bool(self.backend_ca_file)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "TlsSettings":
        e = Env(env)
        s = cls(
            cert_file=e.str("SAFEGEN_TLS_CERT_FILE"),
            key_file=e.str("SAFEGEN_TLS_KEY_FILE"),
            client_ca_file=e.str("SAFEGEN_TLS_CLIENT_CA_FILE"),
            loopback_port=e.int("SAFEGEN_LOOPBACK_PORT", 0, 0, 65535),
            backend_ca_file=e.str("SAFEGEN_BACKEND_TLS_CA_FILE"),
            backend_cert_file=e.str("SAFEGEN_BACKEND_TLS_CERT_FILE"),
            backend_key_file=e.str("SAFEGEN_BACKEND_TLS_KEY_FILE"),
            backend_server_name=e.str("SAFEGEN_BACKEND_TLS_SERVER_NAME"),
        )
        s.validate()
        return s

    def validate(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise SettingsError("SAFEGEN_TLS_CERT_FILE and SAFEGEN_TLS_KEY_FILE must be set together")
        if self.client_ca_file and not self.cert_file:
            raise SettingsError(
                "SAFEGEN_TLS_CLIENT_CA_FILE (mTLS) needs SAFEGEN_TLS_CERT_FILE and SAFEGEN_TLS_KEY_FILE"
            )
        if bool(self.backend_cert_file) != bool(self.backend_key_file):
            raise SettingsError("SAFEGEN_BACKEND_TLS_CERT_FILE and SAFEGEN_BACKEND_TLS_KEY_FILE must be set together")
        if self.backend_cert_file and not self.backend_ca_file:
            raise SettingsError("SAFEGEN_BACKEND_TLS_CERT_FILE needs SAFEGEN_BACKEND_TLS_CA_FILE (the backends' CA)")
        for var, path in (
            ("SAFEGEN_TLS_CERT_FILE", self.cert_file),
            ("SAFEGEN_TLS_KEY_FILE", self.key_file),
            ("SAFEGEN_TLS_CLIENT_CA_FILE", self.client_ca_file),
            ("SAFEGEN_BACKEND_TLS_CA_FILE", self.backend_ca_file),
            ("SAFEGEN_BACKEND_TLS_CERT_FILE", self.backend_cert_file),
            ("SAFEGEN_BACKEND_TLS_KEY_FILE", self.backend_key_file),
        ):
            if path:
                _read(var, path)
        if self.cert_file:
            try:  # a key that does not match the certificate stops the start, not the first handshake
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert_file, self.key_file)
            except (ssl.SSLError, OSError) as e:
                raise SettingsError(f"SAFEGEN_TLS_CERT_FILE / SAFEGEN_TLS_KEY_FILE: not a usable pair: {e}") from None


class ServerTls:
    """The server side: gRPC credentials with a reloading fetcher, and an SSLContext for aiohttp that
    switches to the new pair on the first handshake after the files change."""

    def __init__(self, settings: TlsSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self.generation = 0
        self._stamp = _stamp(settings.cert_file, settings.key_file, settings.client_ca_file)
        self._pair = self._load_pair()
        self._http_ctx = self._new_http_context()

    def _load_pair(self) -> tuple[bytes, bytes, bytes | None]:
        s = self.settings
        ca = _read("SAFEGEN_TLS_CLIENT_CA_FILE", s.client_ca_file) if s.client_ca_file else None
        return (_read("SAFEGEN_TLS_CERT_FILE", s.cert_file), _read("SAFEGEN_TLS_KEY_FILE", s.key_file), ca)

    def _maybe_reload(self) -> int:
        """Reloads when the files changed; returns the generation (bumped by each reload). A rotation
        caught half-written (key and certificate not matching yet) is retried on the next handshake."""
        s = self.settings
        stamp = _stamp(s.cert_file, s.key_file, s.client_ca_file)
        if stamp is None or stamp == self._stamp:
            return self.generation
        with self._lock:
            if stamp == self._stamp:
                return self.generation
            try:
                pair = self._load_pair()
                ctx = self._new_http_context()
            except (SettingsError, ssl.SSLError, OSError) as e:
                log.warning("TLS files changed but could not be loaded yet, keeping the current certificate: %s", e)
                return self.generation
            self._pair, self._http_ctx, self._stamp = pair, ctx, stamp
            self.generation += 1
            log.info("TLS certificate reloaded from %s", s.cert_file)
            return self.generation

    # -- gRPC ------------------------------------------------------------------------------

    def _grpc_config(self) -> grpc.ServerCertificateConfiguration:
        import grpc

        cert, key, ca = self._pair
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def grpc_credentials(self) -> grpc.ServerCredentials:
        import grpc

        seen = [self.generation]

        def fetch() -> (
            grpc.ServerCertificateConfiguration | None
        ):  # grpc calls this before each handshake; None keeps the current configuration
            gen = self._maybe_reload()
            if gen == seen[0]:
                return None
            seen[0] = gen
            return self._grpc_config()

        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(), fetch, require_client_authentication=bool(self.settings.client_ca_file)
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _new_http_context(self) -> ssl.SSLContext:
        s = self.settings
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(s.cert_file, s.key_file)
        if s.client_ca_file:
            ctx.load_verify_locations(cafile=s.client_ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.sni_callback = self._on_hello
        return ctx

    def _on_hello(self, ssl_obj: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        # Called on every ClientHello: a rotated pair is loaded here and this connection switched to it.
        self._maybe_reload()
        if ssl_obj.context is not self._http_ctx:
            ssl_obj.context = self._http_ctx
        return None

    def http_context(self) -> ssl.SSLContext:
        return self._http_ctx


def client_credentials(settings: TlsSettings) -> grpc.ChannelCredentials | None:
    """grpc channel credentials for the gateway's backend channels (None: plaintext)."""
    import grpc

    if not settings.backend_enabled:
        return None
    ca = _read("SAFEGEN_BACKEND_TLS_CA_FILE", settings.backend_ca_file)
    cert = _read("SAFEGEN_BACKEND_TLS_CERT_FILE", settings.backend_cert_file) if settings.backend_cert_file else None
    key = _read("SAFEGEN_BACKEND_TLS_KEY_FILE", settings.backend_key_file) if settings.backend_key_file else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def backend_channel_options(settings: TlsSettings) -> list[tuple[str, str]]:
    if settings.backend_enabled and settings.backend_server_name:
        return [("grpc.ssl_target_name_override", settings.backend_server_name)]
    return []


_process: tuple[TlsSettings, ServerTls | None] | None = None
_process_lock = threading.Lock()


def process_tls(env: Mapping[str, str] | None = None) -> tuple[TlsSettings, ServerTls | None]:
    """The process's TLS settings and server side (None when TLS is off), read once at start."""
    global _process
    with _process_lock:
        if _process is None:
            s = TlsSettings.from_env(env)
            _process = (s, ServerTls(s) if s.enabled else None)
        return _process
