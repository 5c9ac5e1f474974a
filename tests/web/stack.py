"""Runs gRPC servicers and the HTTP front together in one background event loop, as `safegen serve` does."""

from __future__ import annotations

import contextlib
import http.client
import json
from dataclasses import dataclass
from typing import Any, Iterator

from safegen.gateway.http import DEFAULT_MAX_BODY_BYTES, start_http_server
from support import running_server


@dataclass
class Stack:
    grpc_port: int
    http_port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request with the standard library: (status, lower-cased headers, body)."""
        hdrs = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        status, _, raw = self.request(method, path, body, **kw)
        return status, json.loads(raw)


@contextlib.contextmanager
def run_stack(
    *servicers, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, timeout_seconds: float = 60, plane=None, **http_options
) -> Iterator[Stack]:
    """`plane`: the gateway's DataPlane for the HTTP front to call in process, as `safegen serve` does;
    without it the front calls the servicers' gateway over gRPC (fakes of the gateway's services)."""

    async def start_http(port: int):
        return await start_http_server(
            "127.0.0.1",
            0,
            plane or f"127.0.0.1:{port}",
            max_body_bytes=max_body_bytes,
            timeout_seconds=timeout_seconds,
            **http_options,
        )

    with running_server(*servicers, start_extra=start_http) as (port, handle):
        yield Stack(grpc_port=port, http_port=handle.port)
