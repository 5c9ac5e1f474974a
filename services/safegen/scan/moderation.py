"""How a scan moderates: the image and text moderators in-process, or a running safegen over gRPC (--target)."""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

#: One image's result as the scan records it (JSON-ready): verdict SAFE, UNSAFE or INVALID.
Result = dict
#: Moderates a batch of (name, bytes) and returns one Result (verdict, filters, labels...) per image.
ModerateImages = Callable[[Sequence[tuple[str, bytes]]], list[Result]]
#: Moderates the instance prompt; returns a Result-like dict, or None when no text service is available.
ModerateText = Callable[[str], "dict | None"]


def result_from_pb(r) -> Result:
    from safegen.v1 import common_pb2

    detected = [f for f in r.filters if f.detected]
    return {
        "verdict": "UNSAFE" if r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "SAFE",
        "format": r.format,
        "width": r.width,
        "height": r.height,
        "detected": [
            {
                "category": common_pb2.Category.Name(f.category).removeprefix("CATEGORY_"),
                "score": round(f.score, 4),
                "confidence": common_pb2.Confidence.Name(f.confidence).removeprefix("CONFIDENCE_"),
            }
            for f in detected
        ],
        "labels": [
            {
                "name": lb.name,
                "parent_name": lb.parent_name,
                "confidence": round(lb.confidence, 2),
                "taxonomy_level": lb.taxonomy_level,
            }
            for lb in r.labels
        ],
    }


def result_from_verdict(v) -> Result:
    return {
        "verdict": "UNSAFE" if v.intervened else "SAFE",
        "format": v.format,
        "width": v.width,
        "height": v.height,
        "detected": [
            {"category": f.category.value, "score": round(f.score, 4), "confidence": f.confidence.name}
            for f in v.filters
            if f.detected
        ],
        "labels": [
            {
                "name": lb.name,
                "parent_name": lb.parent_name,
                "confidence": lb.confidence,
                "taxonomy_level": lb.taxonomy_level,
            }
            for lb in v.labels
        ],
    }


def invalid(message: str) -> Result:
    return {"verdict": "INVALID", "error": message}


def per_image(moderate_one: Callable[[bytes], Result], batch: Sequence[tuple[str, bytes]]) -> list[Result]:
    """Moderates a batch, retrying image by image when the batch as a whole was refused, so one bad
    file is reported as INVALID without hiding the verdicts of the others."""
    from safegen.errors import InvalidArgument

    out = []
    for _name, data in batch:
        try:
            out.append(moderate_one(data))
        except InvalidArgument as e:
            out.append(invalid(e.message.replace("images[0]: ", "")))
    return out


def in_process_images(guardrail_id: str, source, env=None) -> tuple[ModerateImages, str]:
    """The local moderator without the per-process rate limit (a batch tool paces itself)."""
    from dataclasses import replace

    from safegen.image.limits import RateLimiter
    from safegen.image.backends import build_detector
    from safegen.image.moderator import ImageModerator, text_checker_for
    from safegen.image.settings import ImageSettings
    from safegen.policy import GuardrailRegistry

    settings = ImageSettings.from_env(env)
    registry = GuardrailRegistry.load(os.environ.get("SAFEGEN_GUARDRAILS_DIR") or None)
    registry.get(guardrail_id)
    limits = replace(settings.limits, rate_per_s=0.0)
    detector = build_detector(settings, env)
    # Text read from an image (local OCR) is judged like a prompt, as in the image service itself.
    mod = ImageModerator(
        detector,
        registry,
        limits,
        settings.min_confidence,
        RateLimiter(0),
        text=text_checker_for(detector, registry, env),
        text_min_confidence=settings.text_min_confidence,
    )

    def one(data: bytes) -> Result:
        return result_from_verdict(mod.moderate([data], source, guardrail_id)[0])

    return (lambda batch: per_image(one, batch)), mod.backend


def remote_images(target: str, guardrail_id: str, source, timeout: float) -> tuple[ModerateImages, Callable[[], str]]:
    import grpc

    from safegen.v1 import image_moderation_pb2, image_moderation_pb2_grpc

    # round_robin: a dns:/// name of a headless Service (as the chart passes) spreads calls over every pod.
    channel = grpc.insecure_channel(
        target,
        options=[
            ("grpc.max_send_message_length", 100 * 1024 * 1024),
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            ("grpc.lb_policy_name", "round_robin"),
        ],
    )
    stub = image_moderation_pb2_grpc.ImageModerationServiceStub(channel)
    backend = {"name": ""}

    def call(images: list[bytes]):
        for attempt in range(30):
            try:
                return stub.ModerateImages(
                    image_moderation_pb2.ModerateImagesRequest(images=images, source=source, guardrail_id=guardrail_id),
                    timeout=timeout,
                )
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE) and attempt < 29:
                    time.sleep(min(2.0, 0.2 * (attempt + 1)))  # the service's rate limit: back off and retry
                    continue
                raise

    def moderate(batch):
        try:
            resp = call([d for _, d in batch])
            backend["name"] = resp.backend
            return [result_from_pb(r) for r in resp.results]
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
        out = []  # one image in the batch is bad: find out which, keep the others' verdicts
        for _name, data in batch:
            try:
                out.append(result_from_pb(call([data]).results[0]))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                out.append(invalid((e.details() or "").replace("images[0]: ", "")))
        return out

    return moderate, (lambda: backend["name"])


def text_checker(target: str | None, guardrail_id: str, timeout: float) -> ModerateText | None:
    """ModerateText through a running service, or the text moderator in-process."""
    import grpc

    from safegen.v1 import common_pb2, text_moderation_pb2, text_moderation_pb2_grpc

    def check(stub, prompt: str) -> dict:
        r = stub.ModerateText(
            text_moderation_pb2.ModerateTextRequest(
                text=prompt, source=common_pb2.SOURCE_INPUT, guardrail_id=guardrail_id
            ),
            timeout=timeout,
        )
        return {
            "verdict": "UNSAFE" if r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED else "SAFE",
            "detected": [
                common_pb2.Category.Name(f.category).removeprefix("CATEGORY_") for f in r.filters if f.detected
            ],
            "words": [w.match for w in r.words],
        }

    if target:
        stub = text_moderation_pb2_grpc.TextModerationServiceStub(
            grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")])
        )

        def remote(prompt: str) -> dict:
            try:
                return check(stub, prompt)
            except grpc.RpcError as e:  # the images are scanned already: report the prompt as unchecked
                return {
                    "verdict": "NOT_CHECKED",
                    "reason": f"text moderation at {target} failed: {e.code().name}: {e.details()}",
                }

        return remote
    moderator = None

    def in_process(prompt: str) -> dict:
        # The text moderator itself, built once on first use (loading the classifier takes a second or two).
        nonlocal moderator
        if moderator is None:
            from safegen.policy import GuardrailRegistry
            from safegen.text.backends import build_backend
            from safegen.text.moderator import TextModerator
            from safegen.text.settings import TextSettings

            registry = GuardrailRegistry.load(os.environ.get("SAFEGEN_GUARDRAILS_DIR") or None)
            moderator = TextModerator(registry, build_backend(TextSettings.from_env()))
        from safegen.core.types import Source

        v = moderator.moderate(prompt, Source.INPUT, guardrail_id)
        return {
            "verdict": "UNSAFE" if v.intervened else "SAFE",
            "detected": [f.category.value for f in v.filters if f.detected],
            "words": [w.match for w in v.words],
        }

    return in_process
