"""The safe generation flow: moderate the prompt, generate, moderate every image, blur/withhold/regenerate.

This is the gateway's domain logic, on domain values only (safegen.gateway.values: the request, the
guardrail pinned once per request, the services' verdicts, timings) and returning them. It talks to the
backends through the `Backends` port (safegen.gateway.ports: in-process adapters in all-in-one mode,
gRPC adapters in split mode) and imports nothing from grpc or protobuf, so it is tested with in-memory
backends as well as over the network. The data plane (safegen.gateway.plane) is its only caller and
converts messages at its edge (safegen.gateway.convert).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from safegen.core import metrics
from safegen.core.types import BoundingBox, FilterVerdict, Source, WordMatch
from safegen.errors import InvalidArgument
from safegen.gateway.ports import Backends, OnProgress
from safegen.gateway.values import (
    Emit,
    ImageOutcome,
    Pin,
    Progress,
    SafeRequest,
    SafeResult,
    Stage,
    StageEvent,
    Timings,
)
from safegen.generation.request import GenerationRequest
from safegen.policy import BlurMode, ImageAction, PromptAction
from safegen.policy.actions import FilterAction
from safegen.policy.pii import SensitiveAction, SensitiveMatch
from safegen.policy.topics import TopicMatch
from safegen.text.moderator import TextVerdict

MAX_PROMPT_CHARS = 2000
MAX_IMAGES = 8  # per request; the image moderation service takes at most 20 per call
MAX_SIDE = 2048
MAX_STEPS = 150

_PAST = {ImageAction.BLUR: "BLURRED", ImageAction.BLOCK: "BLOCKED", ImageAction.WARN: "WARNED"}

#: (png, boxes, full) -> png; safegen.image.blur.blur_image in production.
Blur = Callable[[bytes, list[BoundingBox], bool], bytes]

BackendsPort = Backends  # the earlier name of the port


def validate(req: SafeRequest) -> None:
    """Rejects what no backend could serve, before any work, with the field and the allowed range."""
    if not req.prompt.strip():
        raise InvalidArgument("prompt must not be empty")
    if len(req.prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(f"prompt is {len(req.prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    if len(req.negative_prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            f"negative_prompt is {len(req.negative_prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed"
        )
    for name, v in (("width", req.width), ("height", req.height)):
        if v and (v % 8 or not 64 <= v <= MAX_SIDE):
            raise InvalidArgument(
                f"{name} must be a multiple of 8 from 64 to {MAX_SIDE} (or 0 for the default); got {v}"
            )
    if req.num_images > MAX_IMAGES:
        raise InvalidArgument(f"num_images must be from 1 to {MAX_IMAGES} (or 0 for 1); got {req.num_images}")
    if req.steps > MAX_STEPS:
        raise InvalidArgument(f"steps must be from 1 to {MAX_STEPS} (or 0 for the default); got {req.steps}")
    if not 0 <= req.guidance_scale <= 30:
        raise InvalidArgument(f"guidance_scale must be from 0 to 30 (0 for the default); got {req.guidance_scale}")


def _acting(filters: Iterable[FilterVerdict]) -> list[FilterVerdict]:
    """The filters that acted (detect-only ones and SHADOW mode report, never act)."""
    return [f for f in filters if f.intervenes]


def _describe(filters: Iterable[FilterVerdict], words: Iterable[WordMatch] = ()) -> str:
    parts = [f"{f.category.value} (confidence {f.confidence.name})" for f in _acting(filters)]
    parts += [f'banned word "{w.match}"' for w in words if w.enforced]
    return ", ".join(parts) or "unsafe content"


def _topic_blocks(t: TopicMatch, shadow: bool) -> bool:
    return t.detected and t.action == FilterAction.BLOCK and not shadow


def _sensitive_acts(s: SensitiveMatch, shadow: bool) -> SensitiveAction:
    """What a sensitive-information match did: its configured action, or NONE in SHADOW mode."""
    return SensitiveAction.NONE if shadow else s.action


@dataclass
class _Clock:
    start: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=lambda: {s: 0.0 for s in metrics.STAGES})

    def add(self, stage: str, seconds: float) -> None:
        self.stages[stage] += seconds


class _Events:
    """A streaming caller's events (a no-op for Generate): stage starts and ends, denoising progress."""

    def __init__(self, emit: Emit | None):
        self.emit = emit
        self.progress: OnProgress | None = self._progress if emit is not None else None

    async def stage(
        self, stage: Stage, finished: bool, attempt: int = 0, seconds: float = 0.0, detail: str = ""
    ) -> None:
        if self.emit is not None:
            await self.emit(StageEvent(stage, finished, attempt, seconds, detail))

    async def _progress(self, step: int, total: int) -> None:
        if self.emit is not None:
            await self.emit(Progress(step, total))


@dataclass
class _Generated:
    """What generating and moderating the images gave: _generate_and_moderate's return value."""

    images: list[ImageOutcome]
    warnings: list[str]
    attempts: int
    model_id: str = ""
    negative_prompt: str = ""
    intervened: bool = False
    detected: bool = False
    blocked_message: str = ""


class SafeGenerationFlow:
    """Runs one request end to end; `blur` is injected (safegen.image.blur.blur_image in production)."""

    def __init__(self, backends: Backends, blur: Blur):
        self.backends = backends
        self.blur = blur

    async def run(self, req: SafeRequest, pin: Pin, emit: Emit | None = None) -> SafeResult:
        """`req` validated (validate) and `pin` resolved by the caller, once: every stage gets this guardrail."""
        async with self.backends.generation_place():  # refused here, a request costs no moderation
            return await self._run(req, pin, emit)

    async def _run(self, req: SafeRequest, pin: Pin, emit: Emit | None) -> SafeResult:
        guardrail = pin.guardrail
        clock = _Clock()
        events = _Events(emit)

        # 1. The prompt.
        await events.stage(Stage.PROMPT_MODERATION, False)
        t0 = time.perf_counter()
        verdict = await self.backends.moderate_text(req.prompt, Source.INPUT, pin)
        dt = time.perf_counter() - t0
        clock.add("prompt_moderation", dt)
        warnings: list[str] = []
        intervened = False
        # Anonymizing is an intervention that lets the (rewritten) prompt through; only BLOCK policies stop it.
        prompt_unsafe = verdict.intervened and (verdict.blocked or not verdict.anonymized_text)
        if verdict.anonymized_text:
            intervened = True
            warnings.append(
                "Sensitive information in the prompt was replaced before generation: "
                + ", ".join(
                    sorted(
                        {
                            s.name
                            for s in verdict.sensitive
                            if _sensitive_acts(s, verdict.shadow) == SensitiveAction.ANONYMIZE
                        }
                    )
                )
                + "."
            )
        await events.stage(
            Stage.PROMPT_MODERATION,
            True,
            0,
            dt,
            f"prompt flagged: {_describe(verdict.filters, verdict.words)}" if prompt_unsafe else "prompt passed",
        )
        self._count_prompt(verdict, prompt_unsafe, guardrail.unsafe_prompt_action)

        def result(generated: _Generated | None = None, blocked_message: str = "") -> SafeResult:
            g = generated or _Generated(images=[], warnings=[], attempts=0)
            return SafeResult(
                guardrail_id=guardrail.id,
                guardrail_version=guardrail.version_name,
                prompt=verdict,
                images=g.images,
                warnings=warnings + g.warnings,
                timings=self._finish(clock),
                intervened=intervened or g.intervened,
                detected=verdict.detected or g.detected,
                attempts=g.attempts,
                model_id=g.model_id,
                negative_prompt=g.negative_prompt,
                blocked_message=blocked_message or g.blocked_message,
            )

        if prompt_unsafe:
            intervened = True
            if guardrail.unsafe_prompt_action == PromptAction.BLOCK:
                warnings.append(f"The prompt was blocked: {_describe(verdict.filters, verdict.words)}.")
                metrics.BLOCKED.labels("prompt").inc()
                return result(blocked_message=guardrail.blocked_input_message)
            warnings.append(
                f"The prompt was flagged ({_describe(verdict.filters, verdict.words)}); generating anyway because "
                f"guardrail '{guardrail.id}' warns instead of blocking."
            )

        # 2 and 3. Generate, moderate, regenerate unsafe images while the prompt was safe.
        generated = await self._generate_and_moderate(
            req, pin, verdict.anonymized_text or req.prompt, regenerate=not prompt_unsafe, clock=clock, events=events
        )
        return result(generated)

    async def _generate_and_moderate(
        self, req: SafeRequest, pin: Pin, prompt: str, *, regenerate: bool, clock: _Clock, events: _Events
    ) -> _Generated:
        guardrail = pin.guardrail
        n = req.num_images or 1
        max_attempts = 1 + (guardrail.max_regenerations if regenerate else 0)
        slots: list[ImageOutcome | None] = [None] * n
        pending = list(range(n))  # slots still to (re)generate
        out = _Generated(images=[], warnings=[], attempts=0)
        regenerated = 0

        while pending and out.attempts < max_attempts:
            out.attempts += 1
            attempt = out.attempts
            gen_req = GenerationRequest(
                prompt=prompt,
                negative_prompt=req.negative_prompt,
                width=req.width,
                height=req.height,
                num_images=len(pending),
                steps=req.steps,
                guidance_scale=req.guidance_scale,
                # distinct, reproducible seeds per attempt
                seed=None if req.seed is None else req.seed + (attempt - 1) * n,
                safety_negative_prompts=tuple(guardrail.negative_prompts),
            )
            # Fail fast: an image that cannot be judged is never shown, so do not spend a generation on it.
            await self.backends.image_moderation_ready()
            await events.stage(Stage.GENERATION, False, attempt)
            t0 = time.perf_counter()
            gen = await self.backends.generate(gen_req, pin, events.progress)  # progress: streaming only
            dt = time.perf_counter() - t0
            clock.add("generation", dt)
            await events.stage(Stage.GENERATION, True, attempt, dt, f"{len(gen.images)} image(s) from {gen.model_id}")
            if attempt == 1:
                out.model_id = gen.model_id
                out.negative_prompt = gen.negative_prompt
                out.warnings.extend(gen.notes)
                if not gen.negative_prompt_applied:
                    out.warnings.append("The generation backend did not apply the safety negative prompts.")
            if gen.intervened and not gen.images:
                # The backend's own guardrail (e.g. Bedrock's) refused: nothing to moderate or retry.
                out.intervened = True
                out.blocked_message = guardrail.blocked_output_message
                out.warnings.append(
                    "The generation backend's guardrail blocked the output: "
                    f"{gen.intervention_reason or 'no reason given'}."
                )
                metrics.BLOCKED.labels("image").inc()
                break

            await events.stage(Stage.IMAGE_MODERATION, False, attempt)
            t0 = time.perf_counter()
            verdicts = await self.backends.moderate_images(gen.images, Source.OUTPUT, pin)
            dt = time.perf_counter() - t0
            clock.add("image_moderation", dt)
            await events.stage(
                Stage.IMAGE_MODERATION,
                True,
                attempt,
                dt,
                f"{sum(v.intervened for v in verdicts)} of {len(verdicts)} image(s) unsafe",
            )

            still = []
            for slot, data, seed, verdict in zip(pending, gen.images, gen.seeds, verdicts):
                slots[slot] = ImageOutcome(data=data, seed=seed, attempt=attempt, verdict=verdict)
                if verdict.intervened:
                    still.append(slot)
            if still and attempt < max_attempts:
                regenerated += len(still)
                metrics.REGENERATIONS.inc(len(still))
                for slot in still:
                    self._count_image(_filled(slots[slot]).verdict.filters, "REGENERATED")
            pending = still

        if regenerated:
            out.warnings.append(f"{regenerated} unsafe image(s) were regenerated (attempts: {out.attempts}).")
        withheld = 0
        for i, img in enumerate(slots):
            if img is None:
                continue
            v = img.verdict
            if v.intervened:
                out.intervened = True
                what = _describe(v.filters)
                action = guardrail.unsafe_image_action
                if action == ImageAction.BLOCK:
                    img.data = b""
                    img.withheld = True
                    withheld += 1
                    out.warnings.append(f"Image {i + 1} was withheld: {what}.")
                elif action == ImageAction.BLUR:
                    detected = {f.category for f in _acting(v.filters)}
                    boxes = [lb.box for lb in v.labels if lb.box is not None and lb.category in detected]
                    boxed = {lb.category for lb in v.labels if lb.box is not None}
                    # A detected category without any region cannot be localized: blur everything.
                    full = guardrail.blur_mode == BlurMode.FULL or not boxes or not detected <= boxed
                    # Decode + blur + encode is ~60 ms of CPU at 512x512: off the event loop.
                    img.data = await asyncio.to_thread(self.blur, img.data, [] if full else boxes, full)
                    img.blurred = True
                    where = "the whole image" if full else f"{len(boxes)} region(s)"
                    out.warnings.append(f"Image {i + 1} was blurred ({where}): {what}.")
                else:
                    out.warnings.append(f"Image {i + 1} may be unsafe: {what}.")
                self._count_image(v.filters, _PAST[action])
            else:
                self._count_image(v.filters, "ALLOWED")
            out.detected = out.detected or v.detected
            out.images.append(img)
        if withheld and withheld == len(out.images):
            out.blocked_message = guardrail.blocked_output_message
            metrics.BLOCKED.labels("image").inc()
        return out

    @staticmethod
    def _count_detected(
        source: str,
        filters: Sequence[FilterVerdict],
        words: Sequence[WordMatch] = (),
        topics: Sequence[TopicMatch] = (),
        sensitive: Sequence[SensitiveMatch] = (),
        shadow: bool = False,
    ) -> None:
        """What detect-only policies and SHADOW mode would have done: action DETECTED."""
        for f in filters:
            if f.detected and not f.enforced:
                metrics.DECISIONS.labels(source, f.category.value, "DETECTED").inc()
        if any(not w.enforced for w in words):
            metrics.DECISIONS.labels(source, "WORDS", "DETECTED").inc()
        if any(t.detected and not _topic_blocks(t, shadow) for t in topics):
            metrics.DECISIONS.labels(source, "TOPICS", "DETECTED").inc()
        if any(_sensitive_acts(s, shadow) == SensitiveAction.NONE for s in sensitive):
            metrics.DECISIONS.labels(source, "SENSITIVE_INFORMATION", "DETECTED").inc()

    @classmethod
    def _count_prompt(cls, verdict: TextVerdict, unsafe: bool, prompt_action: PromptAction) -> None:
        cls._count_detected("input", verdict.filters, verdict.words, verdict.topics, verdict.sensitive, verdict.shadow)
        if verdict.anonymized_text:
            metrics.DECISIONS.labels("input", "SENSITIVE_INFORMATION", "ANONYMIZED").inc()
        if not unsafe:
            metrics.DECISIONS.labels("input", "NONE", "ALLOWED").inc()
            return
        action = "BLOCKED" if prompt_action == PromptAction.BLOCK else "WARNED"
        for f in _acting(verdict.filters):
            metrics.DECISIONS.labels("input", f.category.value, action).inc()
        if any(w.enforced for w in verdict.words):
            metrics.DECISIONS.labels("input", "WORDS", action).inc()
        if any(_topic_blocks(t, verdict.shadow) for t in verdict.topics):
            metrics.DECISIONS.labels("input", "TOPICS", action).inc()
        if any(_sensitive_acts(s, verdict.shadow) == SensitiveAction.BLOCK for s in verdict.sensitive):
            metrics.DECISIONS.labels("input", "SENSITIVE_INFORMATION", action).inc()

    @classmethod
    def _count_image(cls, filters: Sequence[FilterVerdict], action: str) -> None:
        if action != "REGENERATED":
            cls._count_detected("output", filters)
        acted = _acting(filters)
        if action == "ALLOWED" or not acted:
            metrics.DECISIONS.labels("output", "NONE", "ALLOWED").inc()
            return
        for f in acted:
            metrics.DECISIONS.labels("output", f.category.value, action).inc()

    @staticmethod
    def _finish(clock: _Clock) -> Timings:
        total = time.perf_counter() - clock.start
        moderation = clock.stages["prompt_moderation"] + clock.stages["image_moderation"]
        clock.stages["total"] = total
        ratio = moderation / total if total > 0 else 0.0
        for stage, seconds in clock.stages.items():
            if stage == "total" or seconds > 0:
                metrics.STAGE_SECONDS.labels(stage).observe(seconds)
        if clock.stages["generation"] > 0:
            # A prompt blocked before generation is 100% "overhead" by construction; counting it would
            # make the ratio track the block rate instead of what moderation adds to a generation.
            metrics.OVERHEAD_RATIO.observe(ratio)
        return Timings(
            prompt_moderation=clock.stages["prompt_moderation"],
            generation=clock.stages["generation"],
            image_moderation=clock.stages["image_moderation"],
            total=total,
            moderation_overhead_ratio=ratio,
        )


def _filled(img: ImageOutcome | None) -> ImageOutcome:
    assert img is not None  # every slot in `still` was filled this attempt
    return img
