"""API keys at the HTTP door: an aiohttp middleware admitting every route's caller before its handler runs.

Every route is covered, including ones added later, because this runs before routing's handler.
Open without a key: `/healthz` (probes), `/openapi.json` and the page's static files (they hold no
data; the page's own calls to /v1/* need a key like any other). The forwarded gRPC call carries
this process's internal token and the key id, so the gateway applies the key's scope and logs its id
without charging its rate twice.
"""

from __future__ import annotations

import contextvars
import math

import grpc
from aiohttp import web

from safegen.core.auth import Guard, Principal, current_principal, process_guard
from safegen.core.clientauth import metadata_interceptors
from safegen.core.interceptor import ON_BEHALF_OF_METADATA
from safegen.errors import PermissionDenied, SafegenError
from safegen.gateway.http.status import error_body, http_status

#: Paths anyone may GET: probes, the schema, the page itself.
OPEN_PATHS = frozenset({"/healthz", "/openapi.json", "/"})
OPEN_PREFIXES = ("/static/",)

# Route prefix -> the gRPC service it reaches, so a key outside its scope is refused before the body is
# read. Routes not listed here are still authenticated and rate-limited here and scope-checked by the
# gateway's interceptor on the call they make.
ROUTE_SERVICES = (
    ("/v1/generate", "safegen.v1.SafeGenerationService"),
    ("/v1/apply-guardrail", "safegen.v1.GuardrailService"),
    ("/v1/guardrails", "safegen.v1.GuardrailService"),
    # The drop-in APIs (compat.py) all moderate through ApplyGuardrail.
    ("/v1/moderations", "safegen.v1.GuardrailService"),
    ("/guardrail", "safegen.v1.GuardrailService"),
    ("/contentsafety", "safegen.v1.GuardrailService"),
)

_forwarded: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("safegen_http_principal", default=None)


def _service_for(path: str) -> str | None:
    for prefix, service in ROUTE_SERVICES:
        if path == prefix or path.startswith(prefix + ":") or path.startswith(prefix + "/"):
            return service
    return None


def _refusal(exc: SafegenError) -> web.Response:
    code = getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)
    resp = web.json_response(error_body(code, exc.message), status=http_status(code))
    retry = getattr(exc, "retry_after_s", None)
    if retry is not None:
        resp.headers["Retry-After"] = str(max(1, math.ceil(retry)))
    if code == grpc.StatusCode.UNAUTHENTICATED:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="safegen"'
    resp.force_close()  # the body of a refused request is not worth reading
    return resp


def auth_middleware(guard: Guard | None = None):
    """The middleware; `guard` defaults to the process's (SAFEGEN_API_KEYS_FILE)."""
    guard = guard if guard is not None else process_guard()

    @web.middleware
    async def authenticate(request: web.Request, handler):
        path = request.path
        if request.method in ("GET", "HEAD") and (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            return await handler(request)
        service = _service_for(path)
        try:
            principal = guard.authenticate(request.headers.get("Authorization"))
            if service is None:  # a route not in the table: its own concurrency count, by route pattern
                resource = request.match_info.route.resource
                route = resource.canonical if resource is not None else path[:100]
                if principal.key is not None and principal.key.services is not None:
                    # Whatever it calls, in process or not, must not widen a scoped key: unmapped routes
                    # are for unscoped keys only.
                    raise PermissionDenied(
                        f"API key {principal.key.id!r} is limited to services "
                        f"{', '.join(sorted(principal.key.services))}; the route {route} is not "
                        f"mapped to one (safegen.gateway.http.auth.ROUTE_SERVICES)"
                    )
                service = f"HTTP {route}"
            admission = guard.admit(principal, service)
        except SafegenError as exc:
            return _refusal(exc)
        token = _forwarded.set(principal)
        # In-process work behind the handler (the data plane, the generation queue) sees the caller too.
        principal_token = current_principal.set(principal)
        try:
            return await handler(request)
        finally:
            current_principal.reset(principal_token)
            _forwarded.reset(token)
            admission.release()

    return authenticate


def forwarding_interceptors(guard: Guard | None = None) -> list:
    """Channel interceptors for the HTTP front's channel to the gateway: the internal token and the key id
    of the HTTP caller whose request is being forwarded."""
    guard = guard if guard is not None else process_guard()

    def pairs():
        principal = _forwarded.get()
        out = [("authorization", guard.internal_authorization)]
        if principal is not None and principal.key is not None:
            out.append((ON_BEHALF_OF_METADATA, principal.key.id))
        return out

    return metadata_interceptors(pairs)
