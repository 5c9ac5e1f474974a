"""What the drop-in APIs (OpenAI, Bedrock, Azure) share: the one moderation call, JSON bodies, errors.

Each API lives in its own module (openai_compat, bedrock_compat, azure_compat) as pure mapping
functions between its JSON and safegen's ApplyGuardrail messages, plus a handler. They all moderate
through one `Moderate` callable that `create_app` hands over, so where that call goes (today the
gateway's gRPC port, later the in-process data plane) is one line in server.py. Failures arrive here
as (gRPC status name, message) pairs and each API renders them in its own error shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from typing import Any, Awaitable, Callable

import grpc
from aiohttp import web

from safegen.errors import SafegenError
from safegen.v1 import guardrail_pb2

log = logging.getLogger(__name__)

#: The call every drop-in API moderates through: safegen's ApplyGuardrail, wherever it runs.
Moderate = Callable[[guardrail_pb2.ApplyGuardrailRequest], Awaitable[guardrail_pb2.ApplyGuardrailResponse]]
#: Reads a request body within the server's size limit (the front's `read_body`).
ReadBody = Callable[[web.Request], Awaitable[bytes]]
#: Renders (HTTP status, gRPC status name, message) as one API's error response.
Render = Callable[[int, str, str], web.Response]

#: ApplyGuardrail's own limit on content blocks per call (safegen.gateway.plane.MAX_BLOCKS);
#: checked here too so that each API refuses in its own words before any call.
MAX_BLOCKS = 20
#: Non-empty, strict, padded base64 without whitespace, as the OpenAPI publishes it (see `anchored`);
#: decode_base64 accepts exactly these strings.
BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)"


def anchored(pattern: str) -> str:
    """A JSON Schema pattern matching whole strings only. Not "^...$": in Python's regexes (jsonschema,
    schemathesis) `$` also matches before a final newline, so "DRAFT\n" would pass the schema and fail
    our fullmatch. An empty lookahead means the end in both Python and ECMA-262."""
    return rf"^(?:{pattern})(?![\s\S])"


# google/rpc/code.proto's HTTP mapping, by status name (status.py has it by grpc.StatusCode).
_HTTP = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class CompatError(Exception):
    """A request one of the drop-in APIs refuses itself: a gRPC status name, a message, an HTTP status."""

    def __init__(self, status: str, message: str, http: int | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.http = http if http is not None else _HTTP.get(status, 500)


def invalid(message: str) -> CompatError:
    """A malformed request: INVALID_ARGUMENT, HTTP 400."""
    return CompatError("INVALID_ARGUMENT", message)


def failure(exc: BaseException) -> tuple[int, str, str] | None:
    """(HTTP status, gRPC status name, message) for a failure any layer below may raise: our own
    refusals, the front's body limit, a gRPC status from the gateway, or a domain error from the
    in-process plane. None for anything else, which is a bug."""
    if isinstance(exc, CompatError):
        return exc.http, exc.status, exc.message
    if isinstance(exc, grpc.aio.AioRpcError):
        name = exc.code().name
        return _HTTP.get(name, 500), name, exc.details() or name
    if isinstance(exc, SafegenError):
        return _HTTP.get(exc.code, 500), exc.code, exc.message
    http, code, message = getattr(exc, "http", None), getattr(exc, "code", None), getattr(exc, "message", None)
    if isinstance(http, int) and isinstance(code, grpc.StatusCode) and isinstance(message, str):
        return http, code.name, message  # the front's HttpError (413 over the body limit, 415)
    return None


def handler(render: Render, fn: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """An aiohttp handler running `fn`, with every failure rendered in the API's own error shape.

    INTERNAL never carries internals: the traceback goes to the log, the caller gets "internal error"."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the API's error body
            found = failure(exc)
            if found is None:
                log.exception("unhandled error in %s %s", request.method, request.path)
                found = (500, "INTERNAL", "internal error")
            http, status, message = found
            resp = render(http, status, message)
            retry = retry_after(exc)
            if retry is not None:  # rate limits and caps say when to come back; the SDKs honour it
                resp.headers["Retry-After"] = retry
            if http in (413, 415):
                resp.force_close()  # the rest of a refused body is not worth reading
            return resp

    return handle


def retry_after(exc: BaseException) -> str | None:
    """The Retry-After seconds a refusal carries: gRPC trailing metadata, or a domain error's retry_after_s."""
    if isinstance(exc, grpc.aio.AioRpcError):
        for key, value in exc.trailing_metadata() or ():
            if key == "retry-after":
                return str(value)
        return None
    seconds = getattr(exc, "retry_after_s", None)
    return str(max(1, math.ceil(seconds))) if isinstance(seconds, (int, float)) else None


async def read_json(request: web.Request, read_body: ReadBody) -> Any:
    """The request's JSON value: refused when not application/json, empty, not UTF-8 or malformed."""
    if request.headers.get("Content-Type") is not None and request.content_type != "application/json":
        # As on the proto-JSON routes: a cross-site form post cannot reach us without a preflight.
        raise CompatError(
            "INVALID_ARGUMENT", f"Content-Type must be application/json, not {request.content_type!r}", 415
        )
    raw = await read_body(request)
    if not raw.strip():
        raise invalid("request body is empty: send a JSON object")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise invalid(f"request body is not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise invalid(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:  # "[[[[..." thousands deep: found by tests/web/test_fuzz.py
        raise invalid("request body is nested too deeply (arrays or objects inside each other)") from None
    if _SURROGATE_ESCAPE.search(raw):
        # JSON may escape a lone UTF-16 surrogate ("\ud800"), which is no Unicode text: protobuf
        # strings refuse it, so it is the caller's mistake, said here rather than as a crash later.
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(
                "request body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff): not Unicode text"
            ) from None
    return data


def expect_object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be a JSON object, not {json_type(value)}")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def decode_base64(value: Any, where: str) -> bytes:
    """Non-empty bytes from a base64 string, refused with the field named when it is anything else."""
    if not isinstance(value, str):
        raise invalid(f"{where} must be a base64 string, not {json_type(value)}")
    if not value:
        raise invalid(f"{where} holds no bytes")
    # Exactly the strings BASE64 matches (tests/web/test_compat_openapi.py compares the two), at C
    # speed: the regex itself takes ~0.1 s on a 1 MB image.
    try:
        if len(value) % 4:
            raise ValueError("length is not a multiple of 4")
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{where} is not padded base64 (A-Z, a-z, 0-9, + and /, no whitespace)") from None


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _expect(expect_handler, render: Render):
    """The front's `Expect: 100-continue` check (413 before the body is sent), answered in the API's shape."""

    async def expect(request: web.Request) -> web.StreamResponse | None:
        refused = await expect_handler(request)
        if refused is None:
            return None
        body = json.loads(refused.body)  # the front's google.rpc.Status: re-said in this API's words
        resp = render(refused.status, body.get("status", "RESOURCE_EXHAUSTED"), body.get("message", ""))
        resp.force_close()
        return resp

    return expect


def add_routes(app: web.Application, moderate: Moderate, read_body: ReadBody, expect_handler=None) -> None:
    """Registers the OpenAI, Bedrock and Azure routes on `app`, moderating through `moderate`."""
    from safegen.gateway.http import azure_compat, bedrock_compat, openai_compat

    for module in (openai_compat, bedrock_compat, azure_compat):
        expect = _expect(expect_handler, module.error_response) if expect_handler is not None else None
        for path, fn in module.routes(moderate, read_body).items():
            app.router.add_post(path, fn, expect_handler=expect)
