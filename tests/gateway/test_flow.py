"""The gateway flow as domain logic, against in-memory backends: block/warn, blur/withhold, regeneration."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest

from safegen.core.types import BoundingBox, Category, FilterVerdict, Label, Level, WordListKind, WordMatch
from safegen.errors import InvalidArgument, NotFound
from safegen.gateway import convert
from safegen.gateway.flow import SafeGenerationFlow
from safegen.gateway.plane import prepare
from safegen.generation.request import GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.policy import GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from safegen.text.moderator import TextVerdict
from safegen.v1 import common_pb2 as c, safe_generation_pb2 as pb

UNSAFE_FILTER = FilterVerdict(Category.SEXUAL, 0.9, Level.HIGH, Level.HIGH, detected=True)
SAFE_FILTER = FilterVerdict(Category.SEXUAL, 0.01, Level.NONE, Level.HIGH, detected=False)
BOX = BoundingBox(left=0.25, top=0.25, width=0.5, height=0.5)


def text_verdict(intervened, filters, words=()):
    return TextVerdict(
        intervened=intervened,
        filters=list(filters),
        words=list(words),
        guardrail_id="t",
        backend="fake",
        blocked=intervened,
        detected=intervened,
    )


@dataclass
class FakeBackends:
    """The port in domain values. Unsafe prompt: contains "UNSAFE". Unsafe image: its bytes start with b"bad"
    (seed-controlled)."""

    unsafe_seeds: set = field(default_factory=set)
    with_box: bool = True
    generate_calls: list = field(default_factory=list)
    moderated: list = field(default_factory=list)
    pins: list = field(default_factory=list)

    async def moderate_text(self, text, source, pin):
        self.pins.append(pin)
        if "UNSAFE" in text:
            return text_verdict(True, [UNSAFE_FILTER], [WordMatch("UNSAFE", 0, 6, WordListKind.CUSTOM, "unsafe")])
        return text_verdict(False, [SAFE_FILTER])

    async def generate(self, request, pin, on_progress=None):
        self.pins.append(pin)
        self.generate_calls.append(request)
        first = request.seed if request.seed is not None else 1000
        seeds = [first + i for i in range(request.num_images)]
        if on_progress:
            for s in (1, 2):
                await on_progress(s, 2)
        return GenerationResult(
            images=[(b"bad" if s in self.unsafe_seeds else b"ok") + str(s).encode() for s in seeds],
            seeds=seeds,
            model_id="fake",
            backend="fake",
            negative_prompt="x",
        )

    async def moderate_images(self, images, source, pin):
        self.pins.append(pin)
        self.moderated.append(list(images))
        out = []
        for i, data in enumerate(images):
            if data.startswith(b"bad"):
                labels = [Label("Explicit", "", 90, 1, Category.SEXUAL, BOX if self.with_box else None)]
                out.append(ImageVerdict(i, True, [UNSAFE_FILTER], labels, "PNG", 64, 64, detected=True))
            else:
                out.append(ImageVerdict(i, False, [SAFE_FILTER], [], "PNG", 64, 64))
        return out

    def generation_place(self):
        return contextlib.nullcontext()

    async def image_moderation_ready(self):
        pass

    async def aclose(self):
        pass


class Flow:
    """The flow behind the data plane's edge (prepare, convert): messages in and out, as callers see them."""

    def __init__(self, backends, registry, blur):
        self.flow = SafeGenerationFlow(backends, blur)
        self.registry = registry

    async def run(self, request, emit=None):
        req, pin = prepare(self.registry, request)

        async def emit_pb(event):
            await emit(convert.event(event))

        return convert.response(await self.flow.run(req, pin, emit_pb if emit else None))


def fake_blur(data, boxes, full):
    return b"blurred-full" if full else b"blurred-%d" % len(boxes)


def registry_with(**safegen):
    doc = {
        "id": "t",
        "contentPolicyConfig": {
            "filtersConfig": [{"type": "SEXUAL", "inputStrength": "HIGH", "outputStrength": "HIGH"}]
        },
        "safegen": safegen,
    }
    return GuardrailRegistry([*GuardrailRegistry.load().all(), parse_guardrail(doc, "t", "t")])


def run(flow, **req):
    return asyncio.run(flow.run(pb.GenerateRequest(**req)))


def test_safe_prompt_safe_image():
    b = FakeBackends()
    r = run(Flow(b, GuardrailRegistry.load(), fake_blur), prompt="a cat", seed=5)
    assert r.action == c.ACTION_NONE and r.attempts == 1 and len(r.images) == 1
    assert r.images[0].data == b"ok5" and not r.images[0].blurred and r.guardrail_id == "default"
    assert r.timings.total_seconds >= r.timings.generation_seconds >= 0
    assert 0 <= r.timings.moderation_overhead_ratio <= 1


def test_unsafe_prompt_blocked_without_generation():
    b = FakeBackends()
    r = run(Flow(b, GuardrailRegistry.load(), fake_blur), prompt="UNSAFE thing")
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and not r.images and r.attempts == 0
    assert b.generate_calls == [] and r.blocked_message
    assert "blocked" in r.warnings[0] and 'banned word "UNSAFE"' in r.warnings[0]


def test_unsafe_prompt_warned_generates_but_never_regenerates():
    b = FakeBackends(unsafe_seeds={7})
    r = run(
        Flow(b, registry_with(unsafePromptAction="WARN", maxRegenerations=3), fake_blur),
        prompt="UNSAFE",
        seed=7,
        guardrail_id="t",
    )
    assert len(b.generate_calls) == 1  # the prompt was unsafe: regenerating would not help
    assert r.images[0].blurred and "flagged" in r.warnings[0]


def test_unsafe_image_regenerated_then_safe():
    b = FakeBackends(unsafe_seeds={10})
    r = run(
        Flow(b, registry_with(maxRegenerations=2), fake_blur), prompt="a cat", seed=10, num_images=2, guardrail_id="t"
    )
    assert [x.num_images for x in b.generate_calls] == [2, 1]
    assert b.generate_calls[1].seed == 12  # reproducible, distinct seeds per attempt
    assert r.action == c.ACTION_NONE and r.attempts == 2
    assert [i.data for i in r.images] == [b"ok12", b"ok11"] and [i.attempt for i in r.images] == [2, 1]
    assert any("regenerated" in w for w in r.warnings)


def test_regeneration_is_bounded_then_blurs_regions():
    b = FakeBackends(unsafe_seeds=set(range(0, 100)))
    r = run(Flow(b, registry_with(maxRegenerations=2), fake_blur), prompt="a cat", seed=0, guardrail_id="t")
    assert len(b.generate_calls) == 3 and r.attempts == 3
    img = r.images[0]
    assert img.blurred and img.data == b"blurred-1" and r.action == c.ACTION_GUARDRAIL_INTERVENED
    assert "1 region" in r.warnings[-1]


def test_blur_falls_back_to_full_image_without_regions_or_by_policy():
    b = FakeBackends(unsafe_seeds={1}, with_box=False)
    r = run(Flow(b, registry_with(maxRegenerations=0), fake_blur), prompt="p", seed=1, guardrail_id="t")
    assert r.images[0].data == b"blurred-full"
    b = FakeBackends(unsafe_seeds={1})
    r = run(
        Flow(b, registry_with(maxRegenerations=0, blurMode="FULL"), fake_blur), prompt="p", seed=1, guardrail_id="t"
    )
    assert r.images[0].data == b"blurred-full"


def test_block_policy_withholds_bytes():
    b = FakeBackends(unsafe_seeds={1})
    r = run(
        Flow(b, registry_with(maxRegenerations=0, unsafeImageAction="BLOCK"), fake_blur),
        prompt="p",
        seed=1,
        guardrail_id="t",
    )
    assert r.images[0].withheld and r.images[0].data == b"" and r.blocked_message


def test_warn_policy_keeps_image_with_warning():
    b = FakeBackends(unsafe_seeds={1})
    r = run(
        Flow(b, registry_with(maxRegenerations=0, unsafeImageAction="WARN"), fake_blur),
        prompt="p",
        seed=1,
        guardrail_id="t",
    )
    assert r.images[0].data == b"bad1" and "may be unsafe" in r.warnings[-1]


def test_backend_guardrail_intervention_is_a_verdict():
    class Refusing(FakeBackends):
        async def generate(self, request, pin, on_progress=None):
            return GenerationResult(
                images=[],
                seeds=[],
                model_id="bedrock",
                backend="bedrock",
                intervened=True,
                intervention_reason="Filter reason: prompt",
            )

    r = run(Flow(Refusing(), GuardrailRegistry.load(), fake_blur), prompt="p")
    assert r.action == c.ACTION_GUARDRAIL_INTERVENED and not r.images and "Filter reason" in r.warnings[-1]


def test_stream_emits_stages_and_progress_in_order():
    events = []

    async def emit(e):
        events.append(e)

    asyncio.run(Flow(FakeBackends(), GuardrailRegistry.load(), fake_blur).run(pb.GenerateRequest(prompt="p"), emit))
    kinds = [(e.WhichOneof("event"), e.stage.stage if e.HasField("stage") else 0, e.stage.finished) for e in events]
    assert kinds[0] == ("stage", pb.STAGE_PROMPT_MODERATION, False)
    assert ("progress", 0, False) in kinds
    assert kinds[-1] == ("stage", pb.STAGE_IMAGE_MODERATION, True)


@pytest.mark.parametrize(
    "req,fragment",
    [
        ({"prompt": "  "}, "prompt must not be empty"),
        ({"prompt": "x" * 2001}, "at most 2000"),
        ({"prompt": "p", "width": 500}, "width must be a multiple of 8"),
        ({"prompt": "p", "height": 4096}, "height must be a multiple of 8 from 64 to 2048"),
        ({"prompt": "p", "num_images": 9}, "num_images must be from 1 to 8"),
        ({"prompt": "p", "negative_prompt": "n" * 2001}, "negative_prompt is 2001 characters"),
    ],
)
def test_bad_requests_fail_before_any_backend_call(req, fragment):
    b = FakeBackends()
    with pytest.raises(InvalidArgument, match=fragment):
        run(Flow(b, GuardrailRegistry.load(), fake_blur), **req)
    assert not b.generate_calls and not b.moderated


def test_unknown_guardrail_is_not_found():
    with pytest.raises(NotFound, match="guardrail 'nope' not found"):
        run(Flow(FakeBackends(), GuardrailRegistry.load(), fake_blur), prompt="p", guardrail_id="nope")


def test_a_detected_category_without_regions_forces_full_blur():
    violence = FilterVerdict(Category.VIOLENCE, 0.9, Level.HIGH, Level.HIGH, detected=True)

    class TwoCategories(FakeBackends):
        async def moderate_images(self, images, source, pin):
            verdicts = await super().moderate_images(images, source, pin)
            for v in verdicts:
                if v.intervened:
                    v.filters.append(violence)  # detected, but its detector gave no box
            return verdicts

    r = run(
        Flow(TwoCategories(unsafe_seeds={1}), registry_with(maxRegenerations=0), fake_blur),
        prompt="p",
        seed=1,
        guardrail_id="t",
    )
    assert r.images[0].data == b"blurred-full" and "whole image" in r.warnings[-1]


def test_overhead_ratio_is_recorded_only_for_requests_that_generated():
    from prometheus_client import REGISTRY

    def count():
        return REGISTRY.get_sample_value("safegen_moderation_overhead_ratio_count") or 0.0

    flow = Flow(FakeBackends(), GuardrailRegistry.load(), fake_blur)
    n0 = count()
    run(flow, prompt="UNSAFE")  # blocked: no generation
    assert count() == n0
    run(flow, prompt="a cat")
    assert count() == n0 + 1


def test_no_generation_while_image_moderation_is_unreachable():
    from safegen.errors import Unavailable

    class ImageDown(FakeBackends):
        async def image_moderation_ready(self):
            raise Unavailable("image moderation at x:1 is unreachable")

    b = ImageDown()
    with pytest.raises(Unavailable, match="image moderation"):
        run(Flow(b, GuardrailRegistry.load(), fake_blur), prompt="a cat")
    assert b.generate_calls == [] and not b.moderated


def test_every_stage_gets_the_one_guardrail_resolved_for_the_request():
    b = FakeBackends(unsafe_seeds={3})
    registry = registry_with(maxRegenerations=1)
    r = run(
        Flow(b, registry, fake_blur),
        prompt="a cat",
        seed=3,
        guardrail_id="t",
        tighten_filters=[c.FilterTightening(category=c.CATEGORY_HATE, input_strength=c.FILTER_STRENGTH_HIGH)],
    )
    assert r.attempts == 2 and len(b.pins) == 5  # text, generate, images, generate again, images
    assert all(p is b.pins[0] for p in b.pins) and b.pins[0].guardrail.id == "t"
    assert b.pins[0].tighten and b.generate_calls[0].safety_negative_prompts == tuple(
        b.pins[0].guardrail.negative_prompts
    )
