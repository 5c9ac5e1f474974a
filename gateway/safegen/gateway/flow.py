"""The safe generation flow: moderate the prompt, generate, moderate every image, blur/withhold/regenerate.

This is the gateway's domain logic. It talks to the backends through the `Backends` port
(safegen.gateway.ports: in-process adapters in all-in-one mode, gRPC adapters in split mode), works on the
safegen.v1 messages, and imports nothing from grpc, so it is tested with in-process backends as well as
over the network. The data plane (safegen.gateway.plane) is its only caller.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from safegen.core import metrics, policy_pb
from safegen.errors import InvalidArgument
from safegen.gateway.ports import Backends
from safegen.policy import BlurMode, Guardrail, GuardrailRegistry, ImageAction, PromptAction
from safegen.v1 import common_pb2, image_generation_pb2, safe_generation_pb2 as pb

MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 8  # per request; the image moderation service takes at most 20 per call
MAX_SIDE = 2048
MAX_STEPS = 150

_PAST = {ImageAction.BLUR: "BLURRED", ImageAction.BLOCK: "BLOCKED", ImageAction.WARN: "WARNED"}

Emit = Callable[[pb.StreamGenerateResponse], Awaitable[None]]


BackendsPort = Backends  # the earlier name of the port


def validate(req: pb.GenerateRequest) -> None:
    """Rejects what no backend could serve, before any work, with the field and the allowed range."""
    prompt = req.prompt.strip()
    if not prompt:
        raise InvalidArgument("prompt must not be empty")
    if len(req.prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(f"prompt is {len(req.prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    if len(req.negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            f"negative_prompt is {len(req.negative_prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    for name in ("width", "height"):
        v = getattr(req, name)
        if v and (v % 8 or not 64 <= v <= MAX_SIDE):
            raise InvalidArgument(f"{name} must be a multiple of 8 from 64 to {MAX_SIDE} (or 0 for the default); got {v}")
    if req.num_images > MAX_IMAGES:
        raise InvalidArgument(f"num_images must be from 1 to {MAX_IMAGES} (or 0 for 1); got {req.num_images}")
    if req.steps > MAX_STEPS:
        raise InvalidArgument(f"steps must be from 1 to {MAX_STEPS} (or 0 for the default); got {req.steps}")
    if not 0 <= req.guidance_scale <= 30:
        raise InvalidArgument(f"guidance_scale must be from 0 to 30 (0 for the default); got {req.guidance_scale}")


def _detected(filters) -> list:
    """The filters that acted (detect-only ones and SHADOW mode report, never act)."""
    return [f for f in filters if f.detected and f.action != common_pb2.POLICY_ACTION_NONE]


def _blocking(words) -> list:
    return [w for w in words if w.action != common_pb2.POLICY_ACTION_NONE]


def _describe(filters, words=()) -> str:
    parts = [f"{common_pb2.Category.Name(f.category).removeprefix('CATEGORY_')} "
             f"(confidence {common_pb2.Confidence.Name(f.confidence).removeprefix('CONFIDENCE_')})"
             for f in _detected(filters)]
    parts += [f'banned word "{w.match}"' for w in _blocking(words)]
    return ", ".join(parts) or "unsafe content"


def _category_name(value: int) -> str:
    return common_pb2.Category.Name(value).removeprefix("CATEGORY_")


@dataclass
class _Clock:
    start: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in metrics.STAGES})

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage] += seconds


class SafeGenerationFlow:
    """Runs one request end to end; `blur` is injected (safegen.image.blur.blur_image in production)."""

    def __init__(self, backends: BackendsPort, registry: GuardrailRegistry,
                 blur: Callable[[bytes, list, bool], bytes]):
        self.backends = backends
        self.registry = registry
        self.blur = blur

    async def run(self, req: pb.GenerateRequest, emit: Emit | None = None) -> pb.GenerateResponse:
        validate(req)
        guardrail = self.registry.get(req.guardrail_id, req.guardrail_version)  # NotFound before any work
        if req.tighten_filters:
            guardrail = guardrail.tightened(policy_pb.tightening(req.tighten_filters))  # INVALID_ARGUMENT if looser
        # Every stage gets this exact version, so a reload between stages cannot mix two versions.
        pin = {"guardrail_version": guardrail.version_name if guardrail.version else "",
               "tighten_filters": list(req.tighten_filters)}
        clock = _Clock()
        resp = pb.GenerateResponse(guardrail_id=guardrail.id, action=common_pb2.ACTION_NONE,
                                   guardrail_version=guardrail.version_name, detected_action=common_pb2.ACTION_NONE)

        async def stage_event(stage: int, finished: bool, attempt: int = 0, seconds: float = 0.0, detail: str = ""):
            if emit is not None:
                await emit(pb.StreamGenerateResponse(stage=pb.StageEvent(
                    stage=stage, finished=finished, attempt=attempt, seconds=seconds, detail=detail)))

        # 1. The prompt.
        await stage_event(pb.STAGE_PROMPT_MODERATION, False)
        t0 = time.perf_counter()
        verdict = await self.backends.moderate_text(req.prompt, common_pb2.SOURCE_INPUT, guardrail.id, **pin)
        dt = time.perf_counter() - t0
        clock.add("prompt_moderation", dt)
        resp.prompt_assessment.CopyFrom(pb.PromptAssessment(
            action=verdict.action, filters=verdict.filters, words=verdict.words, topics=verdict.topics,
            sensitive_information=verdict.sensitive_information, anonymized_prompt=verdict.anonymized_text,
            detected_action=verdict.detected_action))
        if verdict.detected_action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
            resp.detected_action = common_pb2.ACTION_GUARDRAIL_INTERVENED
        # Anonymizing is an intervention that lets the (rewritten) prompt through; only BLOCK policies stop it.
        prompt_unsafe = verdict.action == common_pb2.ACTION_GUARDRAIL_INTERVENED and (
            verdict.blocked or not verdict.anonymized_text)
        if verdict.anonymized_text:
            resp.action = common_pb2.ACTION_GUARDRAIL_INTERVENED
            resp.warnings.append("Sensitive information in the prompt was replaced before generation: "
                                 + ", ".join(sorted({s.type for s in verdict.sensitive_information
                                                     if s.action == common_pb2.POLICY_ACTION_ANONYMIZED})) + ".")
        await stage_event(pb.STAGE_PROMPT_MODERATION, True, 0, dt,
                          f"prompt flagged: {_describe(verdict.filters, verdict.words)}" if prompt_unsafe else "prompt passed")
        self._count_prompt(verdict, prompt_unsafe, guardrail)
        prompt = verdict.anonymized_text or req.prompt

        if prompt_unsafe:
            resp.action = common_pb2.ACTION_GUARDRAIL_INTERVENED
            if guardrail.unsafe_prompt_action == PromptAction.BLOCK:
                resp.warnings.append(f"The prompt was blocked: {_describe(verdict.filters, verdict.words)}.")
                resp.blocked_message = guardrail.blocked_input_message
                metrics.BLOCKED.labels("prompt").inc()
                return self._finish(resp, clock)
            resp.warnings.append(
                f"The prompt was flagged ({_describe(verdict.filters, verdict.words)}); generating anyway because "
                f"guardrail '{guardrail.id}' warns instead of blocking.")

        # 2 and 3. Generate, moderate, regenerate unsafe images while the prompt was safe.
        await self._generate_and_moderate(req, guardrail, prompt_unsafe, resp, clock, stage_event, emit, prompt, pin)
        return self._finish(resp, clock)

    async def _generate_and_moderate(self, req, guardrail: Guardrail, prompt_unsafe: bool, resp, clock, stage_event,
                                     emit, prompt: str = "", pin: dict | None = None):
        pin = pin or {}
        n = req.num_images or 1
        max_attempts = 1 + (0 if prompt_unsafe else guardrail.max_regenerations)
        slots: list[pb.GeneratedImage | None] = [None] * n
        pending = list(range(n))  # slots still to (re)generate
        base_seed = req.seed if req.HasField("seed") else None
        attempt = 0
        regenerated = 0
        progress = None  # only a streaming caller wants denoising progress
        if emit is not None:
            async def progress(p):
                await emit(pb.StreamGenerateResponse(progress=p))

        while pending and attempt < max_attempts:
            attempt += 1
            gen_req = image_generation_pb2.GenerateImagesRequest(
                prompt=prompt or req.prompt, negative_prompt=req.negative_prompt, width=req.width, height=req.height,
                num_images=len(pending), steps=req.steps, guidance_scale=req.guidance_scale,
                guardrail_id=guardrail.id, guardrail_version=pin.get("guardrail_version", ""))
            if base_seed is not None:
                gen_req.seed = base_seed + (attempt - 1) * n  # distinct, reproducible seeds per attempt
            # Fail fast: an image that cannot be judged is never shown, so do not spend a generation on it.
            ready = getattr(self.backends, "image_moderation_ready", None)
            if ready is not None:
                await ready()
            await stage_event(pb.STAGE_GENERATION, False, attempt)
            t0 = time.perf_counter()
            gen = await self.backends.generate(gen_req, progress)
            dt = time.perf_counter() - t0
            clock.add("generation", dt)
            await stage_event(pb.STAGE_GENERATION, True, attempt, dt, f"{len(gen.images)} image(s) from {gen.model_id}")
            if attempt == 1:
                resp.model_id = gen.model_id
                resp.negative_prompt = gen.negative_prompt
                resp.warnings.extend(gen.notes)
                if not gen.negative_prompt_applied:
                    resp.warnings.append("The generation backend did not apply the safety negative prompts.")
            if gen.action == common_pb2.ACTION_GUARDRAIL_INTERVENED and not gen.images:
                # The backend's own guardrail (e.g. Bedrock's) refused: nothing to moderate or retry.
                resp.action = common_pb2.ACTION_GUARDRAIL_INTERVENED
                resp.blocked_message = guardrail.blocked_output_message
                resp.warnings.append(f"The generation backend's guardrail blocked the output: {gen.action_reason or 'no reason given'}.")
                metrics.BLOCKED.labels("image").inc()
                break

            await stage_event(pb.STAGE_IMAGE_MODERATION, False, attempt)
            t0 = time.perf_counter()
            mod = await self.backends.moderate_images(list(gen.images), common_pb2.SOURCE_OUTPUT, guardrail.id, **pin)
            dt = time.perf_counter() - t0
            clock.add("image_moderation", dt)
            unsafe_now = sum(r.action == common_pb2.ACTION_GUARDRAIL_INTERVENED for r in mod.results)
            await stage_event(pb.STAGE_IMAGE_MODERATION, True, attempt, dt,
                              f"{unsafe_now} of {len(mod.results)} image(s) unsafe")

            still = []
            for slot, data, seed, result in zip(pending, gen.images, gen.seeds, mod.results):
                img = pb.GeneratedImage(data=data, mime_type="image/png", seed=seed, attempt=attempt,
                                        action=result.action, filters=result.filters, labels=result.labels,
                                        detected_action=result.detected_action)
                slots[slot] = img
                if result.action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
                    still.append(slot)
            if still and attempt < max_attempts:
                regenerated += len(still)
                metrics.REGENERATIONS.inc(len(still))
                for slot in still:
                    self._count_image(slots[slot], "REGENERATED")
            pending = still

        resp.attempts = attempt
        if regenerated:
            resp.warnings.append(f"{regenerated} unsafe image(s) were regenerated (attempts: {attempt}).")
        withheld = 0
        for i, img in enumerate(slots):
            if img is None:
                continue
            if img.action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
                resp.action = common_pb2.ACTION_GUARDRAIL_INTERVENED
                what = _describe(img.filters)
                action = guardrail.unsafe_image_action
                if action == ImageAction.BLOCK:
                    img.data = b""
                    img.withheld = True
                    withheld += 1
                    resp.warnings.append(f"Image {i + 1} was withheld: {what}.")
                elif action == ImageAction.BLUR:
                    detected = {f.category for f in _detected(img.filters)}
                    boxes = [lb.bounding_box for lb in img.labels
                             if lb.HasField("bounding_box") and lb.category in detected]
                    boxed = {lb.category for lb in img.labels if lb.HasField("bounding_box")}
                    # A detected category without any region cannot be localized: blur everything.
                    full = guardrail.blur_mode == BlurMode.FULL or not boxes or not detected <= boxed
                    # Decode + blur + encode is ~60 ms of CPU at 512x512: off the event loop.
                    img.data = await asyncio.to_thread(self.blur, img.data, [] if full else boxes, full)
                    img.blurred = True
                    where = "the whole image" if full else f"{len(boxes)} region(s)"
                    resp.warnings.append(f"Image {i + 1} was blurred ({where}): {what}.")
                else:
                    resp.warnings.append(f"Image {i + 1} may be unsafe: {what}.")
                self._count_image(img, _PAST[action])
            else:
                self._count_image(img, "ALLOWED")
            if img.detected_action == common_pb2.ACTION_GUARDRAIL_INTERVENED:
                resp.detected_action = common_pb2.ACTION_GUARDRAIL_INTERVENED
            resp.images.append(img)
        if withheld and withheld == len(resp.images):
            resp.blocked_message = guardrail.blocked_output_message
            metrics.BLOCKED.labels("image").inc()

    @staticmethod
    def _count_detected(source: str, filters, words=(), topics=(), sensitive=()) -> None:
        """What detect-only policies and SHADOW mode would have done: action DETECTED."""
        for f in filters:
            if f.detected and f.action == common_pb2.POLICY_ACTION_NONE:
                metrics.DECISIONS.labels(source, _category_name(f.category), "DETECTED").inc()
        if any(w.action == common_pb2.POLICY_ACTION_NONE for w in words):
            metrics.DECISIONS.labels(source, "WORDS", "DETECTED").inc()
        if any(t.detected and t.action == common_pb2.POLICY_ACTION_NONE for t in topics):
            metrics.DECISIONS.labels(source, "TOPICS", "DETECTED").inc()
        if any(s.action == common_pb2.POLICY_ACTION_NONE for s in sensitive):
            metrics.DECISIONS.labels(source, "SENSITIVE_INFORMATION", "DETECTED").inc()

    @classmethod
    def _count_prompt(cls, verdict, unsafe: bool, guardrail: Guardrail) -> None:
        cls._count_detected("input", verdict.filters, verdict.words, verdict.topics, verdict.sensitive_information)
        if verdict.anonymized_text:
            metrics.DECISIONS.labels("input", "SENSITIVE_INFORMATION", "ANONYMIZED").inc()
        if not unsafe:
            metrics.DECISIONS.labels("input", "NONE", "ALLOWED").inc()
            return
        action = "BLOCKED" if guardrail.unsafe_prompt_action == PromptAction.BLOCK else "WARNED"
        for f in _detected(verdict.filters):
            metrics.DECISIONS.labels("input", _category_name(f.category), action).inc()
        if _blocking(verdict.words):
            metrics.DECISIONS.labels("input", "WORDS", action).inc()
        if any(t.action == common_pb2.POLICY_ACTION_BLOCKED for t in verdict.topics):
            metrics.DECISIONS.labels("input", "TOPICS", action).inc()
        if any(s.action == common_pb2.POLICY_ACTION_BLOCKED for s in verdict.sensitive_information):
            metrics.DECISIONS.labels("input", "SENSITIVE_INFORMATION", action).inc()

    @classmethod
    def _count_image(cls, img: pb.GeneratedImage, action: str) -> None:
        if action != "REGENERATED":
            cls._count_detected("output", img.filters)
        detected = _detected(img.filters)
        if action == "ALLOWED" or not detected:
            metrics.DECISIONS.labels("output", "NONE", "ALLOWED").inc()
            return
        for f in detected:
            metrics.DECISIONS.labels("output", _category_name(f.category), action).inc()

    @staticmethod
    def _finish(resp: pb.GenerateResponse, clock: _Clock) -> pb.GenerateResponse:
        total = time.perf_counter() - clock.start
        moderation = clock.stages["prompt_moderation"] + clock.stages["image_moderation"]
        clock.stages["total"] = total
        ratio = moderation / total if total > 0 else 0.0
        resp.timings.CopyFrom(pb.StageTimings(
            prompt_moderation_seconds=clock.stages["prompt_moderation"],
            generation_seconds=clock.stages["generation"],
            image_moderation_seconds=clock.stages["image_moderation"],
            total_seconds=total, moderation_overhead_ratio=ratio))
        for stage, seconds in clock.stages.items():
            if stage == "total" or seconds > 0:
                metrics.STAGE_SECONDS.labels(stage).observe(seconds)
        if clock.stages["generation"] > 0:
            # A prompt blocked before generation is 100% "overhead" by construction; counting it would
            # make the ratio track the block rate instead of what moderation adds to a generation.
            metrics.OVERHEAD_RATIO.observe(ratio)
        return resp
