"""The one server interceptor: admits callers (API key, scope, caps, rate), maps domain exceptions to gRPC status codes, records per-RPC metrics."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import time
import uuid
from typing import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import Message

from safegen.core.auth import OPEN_SERVICES, Admission, Guard, Principal, current_principal, process_guard
from safegen.core.metrics import KEY_REQUESTS, RpcMetrics
from safegen.errors import ResourceExhausted, SafegenError

log = logging.getLogger("safegen.rpc")

#: A servicer method as grpc hands it over: unary returns one message, server-streaming yields them.
UnaryFn = Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]
StreamFn = Callable[[Message, grpc.aio.ServicerContext], AsyncIterator[Message]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler | None"]]


def _split(method: str) -> tuple[str, str]:
    # "/safegen.v1.TextModerationService/ModerateText" -> ("safegen.v1.TextModerationService", "ModerateText")
    _, service, name = method.split("/", 2)
    return service, name


#: Metadata the process's own HTTP front adds (with its internal token) to say which key it forwards.
ON_BEHALF_OF_METADATA = "x-safegen-key-id"
#: Metadata the process's own gateway adds (with its internal token) to its backend calls: the key of the
#: caller they serve, for fair shares only (the key's scope does not apply to the gateway's own calls).
FOR_KEY_METADATA = "x-safegen-for-key"


class StatusInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers: the caller is admitted first (authorization metadata,
    scope, concurrency caps, rate: all before any queued work), domain errors become their status,
    anything else becomes INTERNAL with an error id (the traceback is logged, never sent), and every
    RPC is counted. Health and reflection are open to every caller."""

    def __init__(self, guard: Guard | None = None):
        self._metrics: dict[tuple[str, str], RpcMetrics] = {}
        self.guard = guard if guard is not None else process_guard()

    def _admit(self, service: str, context: grpc.aio.ServicerContext) -> tuple[Admission, contextvars.Token[Principal]]:
        """(admission, contextvar token) for a call to `service`; raises Unauthenticated & co."""
        authorization = on_behalf_of = for_key = None
        for k, v in context.invocation_metadata() or ():
            if k == "authorization":
                authorization = v if isinstance(v, str) else None
            elif k == ON_BEHALF_OF_METADATA:
                on_behalf_of = v if isinstance(v, str) else None
            elif k == FOR_KEY_METADATA:
                for_key = v if isinstance(v, str) else None
        principal = Principal("")  # for metrics when authentication fails
        try:
            principal = self.guard.authenticate(authorization, on_behalf_of or "", for_key or "")
            admission = self.guard.admit(principal, service)
        except SafegenError as e:
            if self.guard.enabled:
                KEY_REQUESTS.labels(principal.label, service, e.code).inc()
            if e.code != "RESOURCE_EXHAUSTED":
                log.info("refused %s for key %r: %s", service, principal.label or "(none)", e.message)
            raise
        return admission, current_principal.set(principal)

    def _release(
        self, admission: Admission | None, token: contextvars.Token[Principal] | None, service: str | None, code: str
    ) -> None:
        if admission is None or token is None or service is None:
            return
        if self.guard.enabled and not admission.principal.internal:
            KEY_REQUESTS.labels(admission.principal.label, service, code).inc()
        admission.release()
        try:
            current_principal.reset(token)
        except ValueError:  # a stream closed from another context (the caller went away): nothing to restore
            pass

    def _rpc_metrics(self, method: str, grpc_type: str) -> RpcMetrics:
        key = (method, grpc_type)
        m = self._metrics.get(key)
        if m is None:
            service, name = _split(method)
            m = self._metrics[key] = RpcMetrics(grpc_type, service, name)
        return m

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        service = _split(method)[0]
        guarded = service if service not in OPEN_SERVICES else None
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, self._rpc_metrics(method, "unary"), guarded),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, self._rpc_metrics(method, "server_stream"), guarded),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client- and bidi-streaming RPCs (reflection only: open) pass through untouched

    @staticmethod
    async def _fail(context: grpc.aio.ServicerContext, exc: BaseException) -> str:
        """Aborts the RPC with the status for exc; returns the status name for metrics."""
        if isinstance(exc, SafegenError):
            code = getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)
            if isinstance(exc, ResourceExhausted) and exc.retry_after_s is not None:
                # Whole seconds, as HTTP's Retry-After; never 0, which would invite a busy loop.
                context.set_trailing_metadata((("retry-after", str(max(1, math.ceil(exc.retry_after_s)))),))
            await context.abort(code, exc.message)
        error_id = uuid.uuid4().hex[:12]
        log.exception("internal error %s (key %s)", error_id, current_principal.get().label, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (id {error_id}); see the server log")
        return "INTERNAL"  # not reached: abort raises

    @staticmethod
    def _code_name(context: grpc.aio.ServicerContext, default: str) -> str:
        code = context.code()
        if code is None:
            return default
        name: str = code.name if isinstance(code, grpc.StatusCode) else str(code)
        return name

    def _record(self, m: RpcMetrics, context: grpc.aio.ServicerContext, start: float, code: str) -> None:
        if code == "OK":
            code = self._code_name(context, "OK")  # the servicer may have set a status itself
        m.seconds.observe(time.perf_counter() - start)
        m.handled(code).inc()

    def _code_for(self, exc: BaseException, context: grpc.aio.ServicerContext) -> str:
        """The status name for exc; aborts the RPC (raising) unless exc is already a status or a cancel."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            return "CANCELLED"  # the caller went away or the server is stopping: not an error of ours
        if isinstance(exc, grpc.aio.AbortError):
            return self._code_name(context, "UNKNOWN")
        return exc.code if isinstance(exc, SafegenError) else "INTERNAL"

    def _wrap_unary(self, fn: UnaryFn, m: RpcMetrics, service: str | None) -> UnaryFn:
        async def handler(request: Message, context: grpc.aio.ServicerContext) -> Message:
            m.started.inc()
            if m.inflight is not None:
                m.inflight.inc()
            start = time.perf_counter()
            code = "OK"
            admission = token = None
            try:
                if service is not None:
                    admission, token = self._admit(service, context)
                response = await fn(request, context)
                m.sent.inc()
                return response
            except BaseException as exc:
                code = self._code_for(exc, context)
                if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                    await self._fail(context, exc)  # every failure gets a status
                raise
            finally:
                if m.inflight is not None:
                    m.inflight.dec()
                self._release(admission, token, service, code)
                self._record(m, context, start, code)

        return handler

    def _wrap_stream(self, fn: StreamFn, m: RpcMetrics, service: str | None) -> StreamFn:
        async def handler(request: Message, context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
            m.started.inc()
            if m.inflight is not None:
                m.inflight.inc()
            start = time.perf_counter()
            code = "OK"
            admission = token = None
            try:
                if service is not None:
                    admission, token = self._admit(service, context)
                async for message in fn(request, context):
                    m.sent.inc()
                    yield message
            except BaseException as exc:
                code = self._code_for(exc, context)
                if isinstance(exc, Exception) and not isinstance(exc, grpc.aio.AbortError):
                    await self._fail(context, exc)
                raise
            finally:
                if m.inflight is not None:
                    m.inflight.dec()
                self._release(admission, token, service, code)
                self._record(m, context, start, code)

        return handler
