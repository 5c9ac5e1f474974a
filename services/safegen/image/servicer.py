"""The thin grpc.aio servicer for ImageModerationService/ModerateImages: proto <-> domain, and its wiring."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

from safegen.core import audit_pb, policy_pb
from safegen.core.auth import current_principal
from safegen.core.enums import check_enum
from safegen.core.metrics import INFLIGHT, QUEUE_DEPTH
from safegen.core.types import Category, Source
from safegen.image.backends import build_coverage_backend, build_detector
from safegen.image.backends.base import ImageDetector
from safegen.image.moderator import ImageModerator, ImageVerdict, text_checker_for
from safegen.image.settings import ImageSettings
from safegen.policy import Guardrail, GuardrailRegistry
from safegen.policy.audit import AuditLog, process_audit_log
from safegen.v1 import common_pb2, image_moderation_pb2, image_moderation_pb2_grpc


#: safegen_queue_depth{service="image-moderation"}: calls waiting for a thread of the scoring pool.
_WAITING = QUEUE_DEPTH.labels("image-moderation")
INFLIGHT.labels("image-moderation")  # exported as 0 from the start: an autoscaler needs a value per pod

_SOURCE = {
    common_pb2.SOURCE_INPUT: Source.INPUT,
    common_pb2.SOURCE_OUTPUT: Source.OUTPUT,
    common_pb2.SOURCE_UNSPECIFIED: Source.OUTPUT,
}  # images default to generated output
_LEVEL_CONF = {
    0: common_pb2.CONFIDENCE_NONE,
    1: common_pb2.CONFIDENCE_LOW,
    2: common_pb2.CONFIDENCE_MEDIUM,
    3: common_pb2.CONFIDENCE_HIGH,
}
_LEVEL_STRENGTH = {
    0: common_pb2.FILTER_STRENGTH_NONE,
    1: common_pb2.FILTER_STRENGTH_LOW,
    2: common_pb2.FILTER_STRENGTH_MEDIUM,
    3: common_pb2.FILTER_STRENGTH_HIGH,
}


def _category_pb(c: Category) -> int:
    return common_pb2.Category.Value(f"CATEGORY_{c.value}")


def verdict_to_pb(v: ImageVerdict) -> image_moderation_pb2.ImageModerationResult:
    out = image_moderation_pb2.ImageModerationResult(
        index=v.index,
        action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.intervened else common_pb2.ACTION_NONE,
        format=v.format,
        width=v.width,
        height=v.height,
        detected_action=common_pb2.ACTION_GUARDRAIL_INTERVENED if v.detected else common_pb2.ACTION_NONE,
    )
    for f in v.filters:
        out.filters.add(
            category=_category_pb(f.category),
            score=f.score,
            confidence=_LEVEL_CONF[int(f.confidence)],
            filter_strength=_LEVEL_STRENGTH[int(f.strength)],
            detected=f.detected,
            action=policy_pb.filter_action(f),
        )
    for lb in v.labels:
        m = out.labels.add(
            name=lb.name,
            parent_name=lb.parent_name,
            confidence=lb.confidence,
            taxonomy_level=lb.taxonomy_level,
            category=_category_pb(lb.category),
            text=lb.text,
        )
        if lb.box is not None:
            m.bounding_box.left, m.bounding_box.top = lb.box.left, lb.box.top
            m.bounding_box.width, m.bounding_box.height = lb.box.width, lb.box.height
    return out


class ImageModerationServicer(image_moderation_pb2_grpc.ImageModerationServiceServicer):
    """safegen.v1.ImageModerationService: converts messages and runs the moderator off the event loop."""

    def __init__(self, moderator: ImageModerator, workers: int = 1, audit: AuditLog | None = None):
        self.moderator = moderator
        self.audit = audit
        # A bounded pool: at most `workers` images are being scored at once, whatever the RPC concurrency.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="safegen-image")

    async def ModerateImages(self, request, context):
        t0 = time.perf_counter()
        principal = current_principal.get()
        resp = await self.moderate(request, None if principal.internal else (principal.key.id if principal.key else ""))
        if self.audit is not None and not audit_pb.is_gateway_call(context):  # the gateway logs its own calls
            self.audit.record(
                audit_pb.images_record(request, resp, audit_pb.request_id_of(context), time.perf_counter() - t0)
            )
        return resp

    async def moderate(
        self, request: image_moderation_pb2.ModerateImagesRequest, caller: str | None
    ) -> image_moderation_pb2.ModerateImagesResponse:
        """ModerateImages without the transport: the gRPC method, and the all-in-one gateway's in-process
        calls (caller None: not charged to anyone's image budget, the request that made the images paid).
        The request message is built in memory by the caller and never serialised."""
        source = _SOURCE[check_enum(request.source, common_pb2.Source.DESCRIPTOR, "source")]
        # Resolved once, here: the verdicts and the response name the same guardrail even if a reload lands.
        guardrail = self.moderator.resolve(
            request.guardrail_id, request.guardrail_version, policy_pb.tightening(request.tighten_filters)
        )
        verdicts = await self.score(list(request.images), source, guardrail, caller)
        coverage = verdicts[0].coverage if verdicts else self.moderator.coverage
        resp = image_moderation_pb2.ModerateImagesResponse(
            results=[verdict_to_pb(v) for v in verdicts],
            guardrail_id=guardrail.id,
            guardrail_version=guardrail.version_name,
            backend=verdicts[0].backend if verdicts else self.moderator.backend,
            coverage=[
                image_moderation_pb2.CategoryCoverage(
                    category=_category_pb(c.category), covered=c.covered, detectors=list(c.detectors), gaps=c.gaps
                )
                for c in coverage
            ],
        )
        return resp

    async def score(
        self, images: Sequence[bytes], source: Source, guardrail: Guardrail, caller: str | None
    ) -> list[ImageVerdict]:
        """The moderator's verdicts on `images` under `guardrail` (resolved by the caller), as this service
        gives them: the cheap checks (ImageModerator.admit, `caller` as there) here on the event loop, so a
        request over its rate or limits never waits in the pool, then scoring on the service's bounded pool,
        counted in safegen_queue_depth{service="image-moderation"} while it waits for a thread. What
        ModerateImages and the all-in-one gateway's in-process adapter both call."""
        valid = self.moderator.admit(images, guardrail, caller)
        loop = asyncio.get_running_loop()
        # Whoever takes this first (the pool thread starting, or a cancellation before it did) ends the wait.
        waiting = threading.Lock()

        def judge() -> list[ImageVerdict]:  # on a pool thread
            if waiting.acquire(blocking=False):
                _WAITING.dec()
            return self.moderator.judge(valid, source, guardrail)

        _WAITING.inc()
        try:
            return await loop.run_in_executor(self._pool, judge)
        finally:
            if waiting.acquire(blocking=False):  # cancelled before a thread took it: the pool drops the call
                _WAITING.dec()

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def create_servicer(
    registry: GuardrailRegistry,
    env: Mapping[str, str] | None = None,
    detector: ImageDetector | None = None,
    text_moderator=None,
) -> ImageModerationServicer:
    """Reads SAFEGEN_IMAGE_* settings, loads the detector (unless one is injected) and builds the servicer.

    When the detector reads text (local OCR), the text moderation of prompts (SAFEGEN_TEXT_* settings) is
    built here too, unless one is injected."""
    settings = ImageSettings.from_env(env)
    det = detector if detector is not None else build_detector(settings, env)
    if text_moderator is None:
        text_moderator = text_checker_for(det, registry, env)
    moderator = ImageModerator(
        det,
        registry,
        settings.limits,
        min_confidence=settings.min_confidence,
        text=text_moderator,
        managed=build_coverage_backend(settings, env),
        text_min_confidence=settings.text_min_confidence,
    )
    return ImageModerationServicer(moderator, settings.workers, process_audit_log(env))
