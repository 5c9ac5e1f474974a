"""The HTTP/JSON front of the gateway: proto-JSON endpoints, SSE progress, OpenAPI and the web page.

It runs in the gateway's own asyncio event loop and calls the gateway's data plane
(safegen.gateway.plane) directly, one method per RPC, so HTTP and gRPC callers share one
implementation, one set of limits and one set of errors, with no loopback hop. (Given a gRPC target
instead, it calls a gateway elsewhere through the same methods: safegen.gateway.remote.) Bodies are
proto3 JSON (google.protobuf.json_format), so the two cannot drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Awaitable, Callable

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from prometheus_client import Counter, Histogram

from safegen.core.auth import Guard
from safegen.core.server import MAX_MESSAGE_BYTES, in_process_target
from safegen.core.tls import process_tls
from safegen.errors import SafegenError
from safegen.gateway.http import compat
from safegen.gateway.http.auth import auth_middleware
from safegen.gateway.http.openapi import build_spec
from safegen.gateway.http.status import error_body, http_status
from safegen.v1 import guardrail_pb2, safe_generation_pb2

log = logging.getLogger(__name__)

#: Default request body limit: the same as the gRPC server's message limit once bytes fields travel
#: as base64 (4/3 of their size) plus room for the JSON around them, so HTTP callers can send what
#: gRPC callers can (20 images of 4 MB to ApplyGuardrail) and no more.
DEFAULT_MAX_BODY_BYTES = MAX_MESSAGE_BYTES * 4 // 3 + 1024 * 1024
#: Default deadline for one call; a generation that takes longer answers 504.
DEFAULT_TIMEOUT_SECONDS = 300.0
#: An SSE comment is sent after this long without an event, well under common proxy idle timeouts.
DEFAULT_HEARTBEAT_SECONDS = 15.0


HTTP_REQUESTS = Counter("safegen_http_requests_total", "HTTP requests by route and status code", ["route", "code"])
HTTP_DURATION = Histogram(
    "safegen_http_request_duration_seconds",
    "HTTP request handling time by route (streams: until the last event)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

STATIC_PACKAGE = "safegen.gateway.http.static"
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# The page loads nothing from anywhere but this origin; images arrive as data: URLs from the JSON.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class HttpError(Exception):
    """An error answered by the HTTP layer itself, before any gRPC call, in the same body shape."""

    def __init__(self, http: int, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.http, self.code, self.message = http, code, message


def _error_response(http: int, code: grpc.StatusCode, message: str) -> web.Response:
    return web.json_response(error_body(code, message), status=http)


def _rpc_error_response(exc: grpc.aio.AioRpcError) -> web.Response:
    code = exc.code()
    resp = _error_response(http_status(code), code, exc.details() or code.name)
    for key, value in exc.trailing_metadata() or ():
        if key == "retry-after":  # the gateway's rate limits and caps say when to come back
            resp.headers["Retry-After"] = str(value)
    return resp


def _status_of(exc: SafegenError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)


def _domain_error_response(exc: SafegenError) -> web.Response:
    code = _status_of(exc)
    resp = _error_response(http_status(code), code, exc.message)
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:  # e.g. a full generation queue that knows when to come back
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return resp


def _to_json(message: Message) -> dict[str, Any]:
    # Every field is printed, defaults included, so callers need not know proto3's default rules.
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def _reject_lenient_values(data: Any, desc: Descriptor, path: str = "") -> None:
    """Refuses what json_format lets through but the proto3 JSON mapping (and our OpenAPI) does not:
    true/false for a number or enum (Python's bool is an int), and a fractional or out-of-int32 number
    for an enum (json_format truncates 1.5 to 1)."""
    if not isinstance(data, dict):
        return
    fields = {**{f.name: f for f in desc.fields}, **{f.json_name: f for f in desc.fields}}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue  # unknown fields are json_format's to report
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, bool) and field.type != FieldDescriptor.TYPE_BOOL:
                raise HttpError(
                    400,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"field {path}{key} of {desc.full_name} must not be a boolean",
                )
            if (
                field.type == FieldDescriptor.TYPE_ENUM
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and not (float(v).is_integer() and -(2**31) <= v < 2**31)
            ):
                raise HttpError(
                    400,
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"field {path}{key} of {desc.full_name} must be an enum name or an int32, not {v!r}",
                )
            if field.message_type is not None and isinstance(v, dict):
                _reject_lenient_values(v, field.message_type, f"{path}{key}.")


@dataclass
class HttpServerHandle:
    """A running HTTP server: its bound port, and `await handle.stop()` to close it (and the channel of
    a remote plane it opened)."""

    port: int
    runner: web.AppRunner
    plane: Any
    owns_plane: bool = False

    async def stop(self) -> None:
        await self.runner.cleanup()
        if self.owns_plane:
            await self.plane.aclose()


def _request_id(request: web.Request) -> str:
    """The caller's X-Request-Id (the audit log's request id) when usable, else "" (the plane makes one)."""
    rid = request.headers.get("X-Request-Id", "").strip()
    ok = rid and len(rid) <= 128 and rid.isascii() and rid.isprintable()
    return rid if ok else ""


class _Front:
    """The handlers, bound to one data plane and one body limit.

    `plane` has one method per RPC taking the request message and returning the response message:
    generate, stream_generate (an async iterator of events), apply_guardrail, list_guardrails, and
    health() -> status name. New routes (other API shapes) call the same methods.
    """

    def __init__(self, plane, max_body_bytes: int, timeout: float, heartbeat_seconds: float):
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.heartbeat_seconds = heartbeat_seconds
        self.plane = plane

    # -- request bodies -------------------------------------------------------------------

    def _too_large(self) -> HttpError:
        return HttpError(
            413,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"request body is larger than the limit of {self.max_body_bytes} bytes",
        )

    async def expect_continue(self, request: web.Request) -> web.Response | None:
        """Answers `Expect: 100-continue` with 413 instead of 100 when the declared body is too large,
        so a well-behaved client (curl does this above 1 MB) never sends it at all."""
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            exc = self._too_large()
            resp = _error_response(exc.http, exc.code, exc.message)
            resp.force_close()
            HTTP_REQUESTS.labels(request.match_info.route.resource.canonical, "413").inc()
            return resp
        if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    async def read_body(self, request: web.Request) -> bytes:
        """The body, refused (413) from the declared Content-Length or as soon as the count of a
        chunked body passes the limit, so an oversized body is never held whole in memory."""
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            raise self._too_large()
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise self._too_large()
        return bytes(body)

    async def parse(self, request: web.Request, message: Message) -> Message:
        ctype = request.content_type  # "application/octet-stream" when the header is absent
        if request.headers.get("Content-Type") is not None and ctype != "application/json":
            # Insisting on application/json also makes a cross-site POST need a CORS preflight,
            # which this server never grants: another site's page cannot spend our GPU time.
            raise HttpError(
                415, grpc.StatusCode.INVALID_ARGUMENT, f"Content-Type must be application/json, not {ctype!r}"
            )
        raw = await self.read_body(request)
        if not raw.strip():
            raise HttpError(
                400,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request body is empty: send a JSON object ({message.DESCRIPTOR.full_name})",
            )
        try:
            data = json.loads(raw)
        except UnicodeDecodeError as exc:
            raise HttpError(400, grpc.StatusCode.INVALID_ARGUMENT, f"request body is not UTF-8: {exc}") from None
        except json.JSONDecodeError as exc:
            raise HttpError(
                400,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            ) from None
        except RecursionError:  # "[[[[..." 100,000 deep: the parser's recursion, not ours, ran out
            raise HttpError(
                400,
                grpc.StatusCode.INVALID_ARGUMENT,
                "request body is nested too deeply (arrays or objects inside each other)",
            ) from None
        if not isinstance(data, dict):
            raise HttpError(
                400,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request body must be a JSON object ({message.DESCRIPTOR.full_name}), not {type(data).__name__}",
            )
        try:
            _reject_lenient_values(data, message.DESCRIPTOR)
            json_format.ParseDict(data, message, ignore_unknown_fields=False)
        except json_format.ParseError as exc:
            # The first line names the field and the message; the rest lists every field name.
            raise HttpError(400, grpc.StatusCode.INVALID_ARGUMENT, str(exc).split("\n")[0].strip()) from None
        except RecursionError:
            raise HttpError(
                400,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request body is nested too deeply for {message.DESCRIPTOR.full_name}",
            ) from None
        return message

    # -- endpoints ------------------------------------------------------------------------

    async def generate(self, request: web.Request) -> web.Response:
        req = await self.parse(request, safe_generation_pb2.GenerateRequest())
        resp = await self.plane.generate(req, timeout=self.timeout, request_id=_request_id(request))
        return web.json_response(_to_json(resp))

    async def apply_guardrail(self, request: web.Request) -> web.Response:
        req = await self.parse(request, guardrail_pb2.ApplyGuardrailRequest())
        resp = await self.plane.apply_guardrail(req, timeout=self.timeout, request_id=_request_id(request))
        return web.json_response(_to_json(resp))

    async def list_guardrails(self, request: web.Request) -> web.Response:
        resp = await self.plane.list_guardrails(guardrail_pb2.ListGuardrailsRequest())
        return web.json_response(_to_json(resp))

    async def stream_generate(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: `event: stage|progress|result`, data = StreamGenerateResponse JSON.

        The first event is awaited before the response starts, so a request the gateway rejects
        (bad argument, unknown guardrail) gets its proper HTTP status rather than a 200 stream.
        """
        req = await self.parse(request, safe_generation_pb2.StreamGenerateRequest())
        events = self.plane.stream_generate(req, timeout=self.timeout, request_id=_request_id(request))
        pending: list[asyncio.Future] = []  # a read still running when the handler ends
        try:
            first = await anext(events, None)
            if first is None:
                raise HttpError(502, grpc.StatusCode.INTERNAL, "the gateway ended the stream without a result")
            resp = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    # Proxies such as nginx would otherwise buffer the events until the end.
                    "X-Accel-Buffering": "no",
                }
            )
            await resp.prepare(request)
            message = first
            try:
                while message is not None:
                    event = message.WhichOneof("event") or "message"
                    payload = json.dumps(_to_json(message), separators=(",", ":"))
                    await resp.write(f"event: {event}\ndata: {payload}\n\n".encode())
                    message = await self._next(events, resp, pending)
            except (grpc.aio.AioRpcError, SafegenError) as exc:
                if isinstance(exc, SafegenError):
                    code, details = _status_of(exc), exc.message
                else:
                    code, details = exc.code(), exc.details() or exc.code().name
                payload = json.dumps(error_body(code, details))
                await resp.write(f"event: error\ndata: {payload}\n\n".encode())
            await resp.write_eof()
            return resp
        finally:
            # A client that went away (the handler is cancelled) stops the generation too: the read in
            # flight is cancelled first, since an async generator cannot be closed while it runs.
            for read in pending:
                read.cancel()
                with contextlib.suppress(BaseException):
                    await read
            await events.aclose()

    async def _next(self, events, resp: web.StreamResponse, pending: list):
        """The stream's next message (None at its end), writing an SSE comment every heartbeat while
        none comes, so proxies with idle timeouts (nginx's 60 s) keep a long queue wait or a slow stage
        open. The read runs as its own task: cancelling a timed-out read would cancel the generation."""
        read = asyncio.ensure_future(anext(events, None))
        pending.append(read)
        while True:
            done, _ = await asyncio.wait({read}, timeout=self.heartbeat_seconds)
            if done:
                pending.remove(read)
                return read.result()
            await resp.write(b": keep-alive\n\n")

    async def healthz(self, request: web.Request) -> web.Response:
        status = await self.plane.health()
        return web.json_response({"status": status}, status=200 if status == "SERVING" else 503)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(build_spec())

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        return _static_response(name)


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files(STATIC_PACKAGE).iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), _STATIC_TYPES[suffix])
    return files


_STATIC: dict[str, tuple[bytes, str]] | None = None


def _static_response(name: str) -> web.Response:
    global _STATIC
    if _STATIC is None:
        _STATIC = _load_static()
    # Only the files that ship are served: the name is a key, never a path, so no traversal.
    found = _STATIC.get(name)
    if found is None:
        return _error_response(404, grpc.StatusCode.NOT_FOUND, f"no such file: {name}")
    body, ctype = found
    resp = web.Response(body=body, headers={**_PAGE_HEADERS, "Content-Type": ctype, "Cache-Control": "no-cache"})
    return resp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or the JSON error body for whatever it raised."""
    try:
        return await handler(request)
    except HttpError as exc:
        resp = _error_response(exc.http, exc.code, exc.message)
        resp.force_close()  # the rest of a refused body is not worth reading
        return resp
    except SafegenError as exc:
        return _domain_error_response(exc)
    except grpc.aio.AioRpcError as exc:
        return _rpc_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {
            404: grpc.StatusCode.NOT_FOUND,
            405: grpc.StatusCode.UNIMPLEMENTED,
            413: grpc.StatusCode.RESOURCE_EXHAUSTED,
        }.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
        resp = _error_response(exc.status, code, f"{exc.reason}: {request.method} {request.path}")
        if "Allow" in exc.headers:  # RFC 9110: a 405 lists the methods that are allowed
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except Exception:  # never leak internals; the log has them
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error_response(500, grpc.StatusCode.INTERNAL, "internal error")


@web.middleware
async def _errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns every failure into the JSON error body and counts requests per route pattern."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "other"  # never the raw path: cardinality
    start = time.perf_counter()
    status = "499"  # cancelled: the client went away
    try:
        resp = await _answer(request, handler)
        status = str(resp.status)
        return resp
    finally:
        HTTP_REQUESTS.labels(route, status).inc()
        HTTP_DURATION.labels(route).observe(time.perf_counter() - start)


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp would announce its and Python's versions to every client.
    response.headers["Server"] = "safegen"


def create_app(
    plane,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    guard: Guard | None = None,
) -> web.Application:
    """The aiohttp application over the gateway's data plane (exposed for tests)."""
    front = _Front(plane, max_body_bytes, timeout_seconds, heartbeat_seconds)
    # client_max_size is a second fence: our own reader refuses first, with the JSON body.
    app = web.Application(middlewares=[_errors_and_metrics, auth_middleware(guard)], client_max_size=max_body_bytes)
    app.on_response_prepare.append(_server_header)
    expect = front.expect_continue
    app.router.add_post("/v1/generate", front.generate, expect_handler=expect)
    app.router.add_post("/v1/generate:stream", front.stream_generate, expect_handler=expect)
    app.router.add_post("/v1/apply-guardrail", front.apply_guardrail, expect_handler=expect)
    app.router.add_get("/v1/guardrails", front.list_guardrails)
    app.router.add_get("/healthz", front.healthz)
    app.router.add_get("/openapi.json", front.openapi)
    app.router.add_get("/", front.static)
    app.router.add_get("/static/{name}", front.static)
    # Drop-in OpenAI / Bedrock / Azure routes (compat.py), all moderating through this one call.
    compat.add_routes(app, lambda req: front.plane.apply_guardrail(req, timeout=front.timeout), front.read_body, expect)
    return app


async def start_http_server(
    host: str,
    port: int,
    plane,
    *,
    max_body_bytes: int | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    grace_seconds: float = 10.0,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
) -> HttpServerHandle:
    """Starts the HTTP front in the running event loop over `plane`: the gateway's DataPlane (what
    `safegen serve` passes), or a gRPC target string "host:port" of a gateway elsewhere.

    `port` 0 binds a free port; `handle.port` tells which. `await handle.stop()` stops accepting at
    once and gives requests in flight up to `grace_seconds` to finish (keep the gRPC server up
    meanwhile: they are its calls), then cancels the rest.
    """
    if max_body_bytes is None:  # SAFEGEN_HTTP_MAX_BODY_BYTES, read once here at start
        from safegen.core.settings import Env

        max_body_bytes = Env().int("SAFEGEN_HTTP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 1 << 31)
    if max_body_bytes <= 0:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    if grace_seconds < 0 or timeout_seconds <= 0:
        raise ValueError(f"grace_seconds must be >= 0 and timeout_seconds > 0, got {grace_seconds}, {timeout_seconds}")
    _, server_tls = process_tls()
    owns_plane = isinstance(plane, str)
    if owns_plane:
        from safegen.gateway.remote import RemotePlane

        plane = RemotePlane(in_process_target(plane))  # with TLS on: this process's loopback plaintext port
    app = create_app(
        plane, max_body_bytes=max_body_bytes, timeout_seconds=timeout_seconds, heartbeat_seconds=heartbeat_seconds
    )
    # handler_cancellation: a client that disconnects cancels its handler, which cancels the gRPC
    # call, so nobody keeps generating images for a closed tab. lingering_time bounds how long the
    # rest of a refused body is drained (and discarded) so the client still reads our 413.
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        handler_cancellation=True,
        # aiohttp reads a timeout of 0 as "no limit": no grace means a tiny one.
        lingering_time=2.0,
        shutdown_timeout=max(grace_seconds, 0.001),
    )
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, reuse_port=False, ssl_context=server_tls.http_context() if server_tls else None
    )  # the gRPC port's certificate
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        if owns_plane:
            await plane.aclose()
        raise
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    log.info(
        "HTTP front on %s:%d%s -> %s",
        host,
        bound,
        " (TLS)" if server_tls else "",
        getattr(plane, "target", "the gateway's data plane"),
    )
    return HttpServerHandle(port=bound, runner=runner, plane=plane, owns_plane=owns_plane)
