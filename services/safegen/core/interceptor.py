"""The one server interceptor: maps domain exceptions to gRPC status codes and records per-RPC metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import grpc

from safegen.core.metrics import RpcMetrics
from safegen.errors import SafegenError

log = logging.getLogger("safegen.rpc")


def _split(method: str) -> tuple[str, str]:
    # "/safegen.v1.TextModerationService/ModerateText" -> ("safegen.v1.TextModerationService", "ModerateText")
    _, service, name = method.split("/", 2)
    return service, name


class StatusInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary-unary and unary-stream handlers: domain errors become their status, anything else
    becomes INTERNAL with an error id (the traceback is logged, never sent), and every RPC is counted."""

    def __init__(self):
        self._metrics: dict[tuple[str, str], RpcMetrics] = {}

    def _rpc_metrics(self, method: str, grpc_type: str) -> RpcMetrics:
        key = (method, grpc_type)
        m = self._metrics.get(key)
        if m is None:
            service, name = _split(method)
            m = self._metrics[key] = RpcMetrics(grpc_type, service, name)
        return m

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, self._rpc_metrics(method, "unary")),
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, self._rpc_metrics(method, "server_stream")),
                request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer)
        return handler  # client- and bidi-streaming RPCs (reflection) pass through untouched

    @staticmethod
    async def _fail(context, exc: BaseException) -> str:
        """Aborts the RPC with the status for exc; returns the status name for metrics."""
        if isinstance(exc, SafegenError):
            code = getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)
            await context.abort(code, exc.message)
        error_id = uuid.uuid4().hex[:12]
        log.exception("internal error %s", error_id, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (id {error_id}); see the server log")
        return "INTERNAL"  # not reached: abort raises

    @staticmethod
    def _code_name(context, default: str) -> str:
        code = context.code()
        if code is None:
            return default
        return code.name if isinstance(code, grpc.StatusCode) else str(code)

    def _record(self, m: RpcMetrics, context, start: float, code: str) -> None:
        if code == "OK":
            code = self._code_name(context, "OK")  # the servicer may have set a status itself
        m.seconds.observe(time.perf_counter() - start)
        m.handled(code).inc()

    def _code_for(self, exc: BaseException, context) -> str:
        """The status name for exc; aborts the RPC (raising) unless exc is already a status or a cancel."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            return "CANCELLED"  # the caller went away or the server is stopping: not an error of ours
        if isinstance(exc, grpc.aio.AbortError):
            return self._code_name(context, "UNKNOWN")
        return exc.code if isinstance(exc, SafegenError) else "INTERNAL"

    def _wrap_unary(self, fn, m: RpcMetrics):
        async def handler(request, context):
            m.started.inc()
            if m.inflight is not None:
                m.inflight.inc()
            start = time.perf_counter()
            code = "OK"
            try:
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
                self._record(m, context, start, code)

        return handler

    def _wrap_stream(self, fn, m: RpcMetrics):
        async def handler(request, context):
            m.started.inc()
            if m.inflight is not None:
                m.inflight.inc()
            start = time.perf_counter()
            code = "OK"
            try:
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
                self._record(m, context, start, code)

        return handler
