"""The gateway's data plane (after KServe's DataPlane): one object behind the gRPC servicers and the HTTP front.

One small method per RPC takes the request message and returns the response message (or, for the
stream, an async iterator of them): `await plane.generate(req)`, `plane.stream_generate(req)`,
`await plane.apply_guardrail(req)`, `await plane.list_guardrails(req)`. The flow resolves the guardrail
once per request and pins that version for every backend call; the backends are in process (all-in-one)
or gRPC channels (split mode). Errors are safegen.errors: the gRPC interceptor and the HTTP front map
them. It also counts calls in flight, so one drain covers gRPC and HTTP callers alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, TypeVar

from google.protobuf.message import Message

from safegen.core import audit_pb, metrics, policy_pb
from safegen.core.enums import check_enum
from safegen.core.types import BoundingBox, Source
from safegen.errors import DeadlineExceeded, InvalidArgument, Unavailable
from safegen.gateway import convert
from safegen.gateway.flow import Blur, SafeGenerationFlow, validate
from safegen.gateway.ports import Backends
from safegen.gateway.values import Pin, Progress, SafeRequest, StageEvent
from safegen.image.moderator import ImageVerdict
from safegen.policy import GuardrailRegistry
from safegen.policy.audit import AuditLog, request_id as new_request_id
from safegen.policy.usage import usage
from safegen.v1 import common_pb2, guardrail_pb2, safe_generation_pb2 as pb

MAX_BLOCKS = 20
R = TypeVar("R", bound=Message)  # a request message
S = TypeVar("S", bound=Message)  # its response

#: Answers the process's health status name ("SERVING", "NOT_SERVING", ...) for the HTTP /healthz.
HealthFn = Callable[[], Awaitable[str]]


class InFlight:
    """Counts running gateway calls so a drain can refuse new ones and wait for the rest."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False

    def begin_drain(self) -> None:
        self._draining = True

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def __enter__(self) -> InFlight:
        if self._draining:
            raise Unavailable("this gateway is shutting down; retry (another replica will serve it)")
        self._active += 1
        self._idle.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        self._active -= 1
        if self._active == 0:
            self._idle.set()


def _default_blur(data: bytes, boxes: list[BoundingBox], full: bool) -> bytes:
    from safegen.image.blur import blur_image  # the image domain owns blurring

    return blur_image(data, boxes or None, full)


async def _serving() -> str:
    return "SERVING"


def prepare(
    registry: GuardrailRegistry, request: pb.GenerateRequest | pb.StreamGenerateRequest
) -> tuple[SafeRequest, Pin]:
    """The edge of Generate and StreamGenerate: the message as the flow's request, validated, and the guardrail
    resolved once (NOT_FOUND; INVALID_ARGUMENT for a tightening that loosens) before any work."""
    req = convert.request(request)
    validate(req)
    guardrail = registry.get(req.guardrail_id, req.guardrail_version)
    tighten = policy_pb.tightening(request.tighten_filters)
    return req, Pin(guardrail.tightened(tighten) if tighten else guardrail, tighten)


class DataPlane:
    """The gateway's calls over one `Backends` adapter set and one guardrail registry."""

    def __init__(
        self,
        backends: Backends,
        registry: GuardrailRegistry,
        *,
        blur: Blur | None = None,
        health: HealthFn | None = None,
        audit: AuditLog | None = None,
    ):
        self.backends = backends
        self.registry = registry
        self.flow = SafeGenerationFlow(backends, blur or _default_blur)
        self.in_flight = InFlight()
        self.audit = audit
        self._health = health or _serving
        self._closed = False

    def _audit(
        self, build: Callable[[R, S, str, float, bool], dict[str, Any]], request: R, resp: S, rid: str, t0: float
    ) -> None:
        """One audit line per decision (never blocks: the log only queues it)."""
        if self.audit is not None:
            self.audit.record(build(request, resp, rid, time.perf_counter() - t0, self.audit.content))

    def set_health(self, health: HealthFn) -> None:
        """`safegen serve` points /healthz at the gRPC health servicer, so both report the same drain."""
        self._health = health

    async def health(self) -> str:
        return await self._health()

    # ----------------------------------------------------------------------------------- generation
    def _prepare(self, request: pb.GenerateRequest | pb.StreamGenerateRequest) -> tuple[SafeRequest, Pin]:
        return prepare(self.registry, request)

    async def generate(
        self, request: pb.GenerateRequest, *, timeout: float | None = None, request_id: str = ""
    ) -> pb.GenerateResponse:
        """`request_id`: the caller's (x-request-id / X-Request-Id) when usable, else a new one."""
        with self.in_flight:
            t0, rid = time.perf_counter(), new_request_id(request_id)
            async with _deadline(timeout):
                req, pin = self._prepare(request)
                resp = convert.response(await self.flow.run(req, pin), rid)
            self._audit(audit_pb.generate_record, request, resp, rid, t0)
            return resp

    async def stream_generate(
        self,
        request: pb.StreamGenerateRequest | pb.GenerateRequest,
        *,
        timeout: float | None = None,
        request_id: str = "",
    ) -> AsyncGenerator[pb.StreamGenerateResponse, None]:
        """Stage and progress events, then one `result` event. A bad request raises on the first
        iteration, before any event; closing the iterator early cancels the generation."""
        with self.in_flight:
            t0, rid = time.perf_counter(), new_request_id(request_id)
            queue: asyncio.Queue[pb.StreamGenerateResponse | None] = asyncio.Queue()  # None: the end

            async def emit(event: StageEvent | Progress) -> None:
                queue.put_nowait(convert.event(event))

            async def run() -> None:
                try:
                    async with _deadline(timeout):
                        req, pin = self._prepare(request)
                        result = convert.response(await self.flow.run(req, pin, emit), rid)
                    self._audit(audit_pb.generate_record, request, result, rid, t0)
                    queue.put_nowait(pb.StreamGenerateResponse(result=result))
                finally:
                    queue.put_nowait(None)

            task = asyncio.ensure_future(run())
            try:
                while (event := await queue.get()) is not None:
                    yield event
                await task  # re-raises the flow's error
            finally:
                if not task.done():
                    task.cancel()  # the caller went away: stop generating
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    # ------------------------------------------------------------------------------------ guardrails
    async def list_guardrails(
        self, request: guardrail_pb2.ListGuardrailsRequest | None = None
    ) -> guardrail_pb2.ListGuardrailsResponse:
        out = guardrail_pb2.ListGuardrailsResponse()
        for g in self.registry.all():
            out.guardrails.add(
                id=g.id,
                name=g.name,
                description=g.description,
                is_default=g.id == self.registry.default_id,
                versions=[v.version_name for v in self.registry.versions(g.id)],
                latest_version=g.version_name,
                mode=g.mode.value,
            )
        return out

    async def apply_guardrail(
        self, request: guardrail_pb2.ApplyGuardrailRequest, *, timeout: float | None = None, request_id: str = ""
    ) -> guardrail_pb2.ApplyGuardrailResponse:
        """ApplyGuardrail over safegen's own moderation, in Bedrock's request/response shape."""
        with self.in_flight:
            t0, rid = time.perf_counter(), new_request_id(request_id)
            async with _deadline(timeout):
                resp = await self._apply(request)
            resp.request_id = rid
            self._audit(audit_pb.apply_record, request, resp, rid, t0)
            return resp

    async def _apply(self, request: guardrail_pb2.ApplyGuardrailRequest) -> guardrail_pb2.ApplyGuardrailResponse:
        guardrail = self.registry.get(request.guardrail_id, request.guardrail_version)
        tighten = policy_pb.tightening(request.tighten_filters)
        if tighten:
            guardrail = guardrail.tightened(tighten)  # INVALID_ARGUMENT when looser
        if not request.content:
            raise InvalidArgument("content must hold at least one text or image block")
        if len(request.content) > MAX_BLOCKS:
            raise InvalidArgument(f"content has {len(request.content)} blocks; at most {MAX_BLOCKS} are allowed")
        source_pb = check_enum(request.source, common_pb2.Source.DESCRIPTOR, "source") or common_pb2.SOURCE_INPUT
        source = Source.OUTPUT if source_pb == common_pb2.SOURCE_OUTPUT else Source.INPUT
        # The backends get this exact guardrail, so a reload while the blocks are moderated cannot mix versions.
        pin = Pin(guardrail, tighten)
        texts: list[tuple[int, str]] = []
        images: list[tuple[int, guardrail_pb2.GuardrailImageBlock]] = []
        for i, block in enumerate(request.content):
            kind = block.WhichOneof("block")
            if kind == "text":
                texts.append((i, block.text.text))
            elif kind == "image":
                # Checked before any moderation runs (an unknown number used to fail after it, as INTERNAL).
                check_enum(block.image.format, guardrail_pb2.ImageFormat.DESCRIPTOR, f"content[{i}].image.format")
                images.append((i, block.image))
            else:
                raise InvalidArgument(f"content[{i}] has neither text nor image")
        assessments: dict[int, guardrail_pb2.GuardrailAssessment] = {}

        async def no_images() -> list[ImageVerdict]:
            return []

        text_verdicts, image_verdicts = await asyncio.gather(
            asyncio.gather(*(self.backends.moderate_text(t, source, pin) for _, t in texts)),
            self.backends.moderate_images([b.data for _, b in images], source, pin) if images else no_images(),
        )
        blocked = anonymized = False
        outputs = []
        for (i, text), v in zip(texts, text_verdicts):
            assessments[i] = guardrail_pb2.GuardrailAssessment(
                content_index=i,
                action=convert.action(v.intervened),
                filters=convert.filters_pb(v.filters),
                words=convert.words_pb(v.words),
                topics=policy_pb.topic_results(v.topics, v.shadow),
                sensitive_information=policy_pb.sensitive_results(v.sensitive, v.shadow),
                detected_action=convert.action(v.detected),
                threats=convert.threats_pb(v.threats),
            )
            if v.intervened and (v.blocked or not v.anonymized_text):
                blocked = True
            anonymized = anonymized or bool(v.anonymized_text)
            outputs.append(v.anonymized_text or text)
        for (i, block), iv in zip(images, image_verdicts):
            claimed = guardrail_pb2.ImageFormat.Name(block.format).removeprefix("IMAGE_FORMAT_")
            if block.format and claimed != iv.format:
                raise InvalidArgument(
                    f"content[{i}].image.format is {claimed} but the bytes are {iv.format or 'unknown'}"
                )
            assessments[i] = guardrail_pb2.GuardrailAssessment(
                content_index=i,
                action=convert.action(iv.intervened),
                filters=convert.filters_pb(iv.filters),
                labels=convert.labels_pb(iv.labels),
                detected_action=convert.action(iv.detected),
            )
            blocked = blocked or iv.intervened
        ordered = [assessments[i] for i in sorted(assessments)]
        resp = guardrail_pb2.ApplyGuardrailResponse(
            action=common_pb2.ACTION_NONE,
            assessments=ordered,
            guardrail_id=guardrail.id,
            guardrail_version=guardrail.version_name,
            detected_action=common_pb2.ACTION_NONE,
        )
        u = usage(guardrail, [len(t) for _, t in texts], len(images), source)
        resp.usage.CopyFrom(
            guardrail_pb2.GuardrailUsage(
                topic_policy_units=u.topic_policy_units,
                content_policy_units=u.content_policy_units,
                word_policy_units=u.word_policy_units,
                sensitive_information_policy_units=u.sensitive_information_policy_units,
                sensitive_information_policy_free_units=u.sensitive_information_policy_free_units,
                contextual_grounding_policy_units=u.contextual_grounding_policy_units,
                content_policy_image_units=u.content_policy_image_units,
            )
        )
        resp.guardrail_coverage.CopyFrom(
            guardrail_pb2.GuardrailCoverage(
                text_characters_guarded=u.text_characters_guarded,
                text_characters_total=u.text_characters_total,
                images_guarded=u.images_guarded,
                images_total=u.images_total,
            )
        )
        reasons = []
        for a in ordered:
            if a.detected_action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
                resp.detected_action = common_pb2.ACTION_GUARDRAIL_INTERVENED
            if a.action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
                resp.action = common_pb2.ACTION_GUARDRAIL_INTERVENED
                reasons.append(f"block {a.content_index}: {', '.join(_reasons(a)) or 'unsafe'}")
        if resp.action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
            resp.action_reason = "; ".join(reasons)
            if blocked:
                message = (
                    guardrail.blocked_input_message if source == Source.INPUT else guardrail.blocked_output_message
                )
                resp.outputs.append(guardrail_pb2.GuardrailOutput(text=message))
            elif anonymized:  # Bedrock returns the masked text when the guardrail only anonymized
                resp.outputs.extend(guardrail_pb2.GuardrailOutput(text=t) for t in outputs)
        _count(ordered, "output" if source == Source.OUTPUT else "input")
        return resp

    # ---------------------------------------------------------------------------------------- drain
    def begin_drain(self) -> None:
        self.in_flight.begin_drain()

    async def wait_idle(self) -> None:
        await self.in_flight.wait_idle()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self.backends.aclose()


@contextlib.asynccontextmanager
async def _deadline(timeout: float | None) -> AsyncIterator[None]:
    """The HTTP front's deadline, in process (gRPC callers have theirs enforced by grpc itself)."""
    if timeout is None:
        yield
        return
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise DeadlineExceeded(f"the request did not finish within {timeout:g} s") from None


def _reasons(a: guardrail_pb2.GuardrailAssessment) -> list[str]:
    acted = common_pb2.POLICY_ACTION_NONE
    out = [
        common_pb2.Category.Name(f.category).removeprefix("CATEGORY_")
        for f in a.filters
        if f.detected and f.action != acted
    ]
    if any(w.action != acted for w in a.words):
        out.append("banned words")
    out += [f"topic {t.name}" for t in a.topics if t.action == common_pb2.POLICY_ACTION_BLOCKED]
    for kind, label in (
        (common_pb2.POLICY_ACTION_BLOCKED, "blocked"),
        (common_pb2.POLICY_ACTION_ANONYMIZED, "anonymized"),
    ):
        types = sorted({s.type for s in a.sensitive_information if s.action == kind})
        if types:
            out.append(f"{label} {', '.join(types)}")
    return out


def _count(assessments: Iterable[guardrail_pb2.GuardrailAssessment], source: str) -> None:
    """safegen_decisions_total for ApplyGuardrail, per block, with the labels the flow uses: BLOCKED for what
    acted, ANONYMIZED, DETECTED for what a detect-only policy or SHADOW mode only reported, else ALLOWED."""
    none, blocked, anon = (
        common_pb2.POLICY_ACTION_NONE,
        common_pb2.POLICY_ACTION_BLOCKED,
        common_pb2.POLICY_ACTION_ANONYMIZED,
    )
    for a in assessments:
        seen = []
        for f in a.filters:
            if f.detected:
                seen.append(
                    (
                        common_pb2.Category.Name(f.category).removeprefix("CATEGORY_"),
                        "DETECTED" if f.action == none else "BLOCKED",
                    )
                )
        for label, actions in (
            ("WORDS", [w.action for w in a.words]),
            ("TOPICS", [t.action for t in a.topics if t.detected]),
            ("SENSITIVE_INFORMATION", [x.action for x in a.sensitive_information]),
        ):
            for kind, name in ((blocked, "BLOCKED"), (anon, "ANONYMIZED"), (none, "DETECTED")):
                if kind in actions:
                    seen.append((label, name))
        for category, action in seen or [("NONE", "ALLOWED")]:
            metrics.DECISIONS.labels(source, category, action).inc()
