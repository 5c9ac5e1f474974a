"""Generation requests and results: the values every backend takes and returns, limits and validation (no grpc)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from safegen.errors import Cancelled, DeadlineExceeded, InvalidArgument

#: Called after each denoising step with (step, total_steps); step counts from 1.
ProgressFn = Callable[[int, int], None]

MAX_SEED = 2**32 - 2  # the narrowest range of the backends (Stability on Bedrock takes 0..4294967294)


@dataclass(frozen=True)
class GenerationRequest:
    """What the caller asked for. Zero/None fields mean "the backend's default"."""

    prompt: str
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    num_images: int = 0
    steps: int = 0
    guidance_scale: float = 0.0
    seed: int | None = None
    #: The guardrail's safety negative prompts; always merged into the negative prompt.
    safety_negative_prompts: tuple[str, ...] = ()


@dataclass
class GenerationResult:
    """What a backend produced. `images` are PNG bytes; empty when the backend's guardrail intervened."""

    images: list[bytes]
    seeds: list[int]
    model_id: str
    backend: str
    negative_prompt: str = ""
    negative_prompt_applied: bool = True
    notes: list[str] = field(default_factory=list)
    #: True when the backend's own guardrail (Bedrock Guardrails, a model's content filter) blocked output.
    intervened: bool = False
    intervention_reason: str = ""


@dataclass(frozen=True)
class Limits:
    """A backend's accepted ranges and defaults; requests outside them are INVALID_ARGUMENT."""

    min_size: int = 64
    max_size: int = 2048
    size_multiple: int = 8
    default_width: int = 512
    default_height: int = 512
    min_steps: int = 1
    max_steps: int = 150
    default_steps: int = 30
    max_images: int = 8
    max_prompt_chars: int = 2000
    max_negative_prompt_chars: int = 4000
    min_guidance: float = 0.0
    max_guidance: float = 30.0
    default_guidance: float = 7.5


class CancelToken:
    """Set by the caller's side (RPC cancelled, deadline passed); polled by backends between steps."""

    def __init__(self, deadline: float | None = None):
        self._event = threading.Event()
        #: time.monotonic() value after which the work is abandoned; None means no deadline.
        self.deadline = deadline

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raises Cancelled or DeadlineExceeded when the work should stop."""
        if self._event.is_set():
            raise Cancelled("the generation was cancelled by the caller")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded("the generation did not finish before the deadline and was stopped")

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


def merge_negative_prompts(user: str, safety: tuple[str, ...] | list[str]) -> str:
    """The caller's negative prompt followed by the safety ones, comma-separated, without duplicates.

    The caller's terms come first: CLIP-style encoders truncate at 77 tokens, and a caller who bothered
    to write a negative prompt should not lose it to a long safety list. Order of first appearance is kept.
    """
    parts: list[str] = []
    seen: set[str] = set()
    for chunk in [user, *safety]:
        for term in chunk.split(","):
            t = " ".join(term.split())
            if t and t.lower() not in seen:
                seen.add(t.lower())
                parts.append(t)
    return ", ".join(parts)


def _check_range(field_name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise InvalidArgument(f"{field_name}={value} is out of range: allowed {lo} to {hi}")


def validate(request: GenerationRequest, limits: Limits) -> GenerationRequest:
    """Checks `request` against `limits` and returns it with defaults, a seed and merged negatives.

    Raises InvalidArgument naming the field and the allowed range.
    """
    prompt = request.prompt.strip()
    if not prompt:
        raise InvalidArgument("prompt is required: allowed 1 to %d characters" % limits.max_prompt_chars)
    if len(prompt) > limits.max_prompt_chars:
        raise InvalidArgument(f"prompt has {len(prompt)} characters: allowed 1 to {limits.max_prompt_chars}")
    if len(request.negative_prompt) > limits.max_negative_prompt_chars:
        raise InvalidArgument(
            f"negative_prompt has {len(request.negative_prompt)} characters: "
            f"allowed 0 to {limits.max_negative_prompt_chars}"
        )
    width = request.width or limits.default_width
    height = request.height or limits.default_height
    for name, value in (("width", width), ("height", height)):
        if value % limits.size_multiple or not limits.min_size <= value <= limits.max_size:
            raise InvalidArgument(
                f"{name}={value} is not allowed: use a multiple of {limits.size_multiple} "
                f"from {limits.min_size} to {limits.max_size}"
            )
    steps = request.steps or limits.default_steps
    _check_range("steps", steps, limits.min_steps, limits.max_steps)
    num_images = request.num_images or 1
    _check_range("num_images", num_images, 1, limits.max_images)
    guidance = request.guidance_scale or limits.default_guidance
    _check_range("guidance_scale", guidance, limits.min_guidance, limits.max_guidance)
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED - 64)
    # Image i uses seed + i, so the last image's seed must be in range too.
    _check_range("seed", seed, 0, MAX_SEED - num_images + 1)
    return replace(
        request,
        prompt=prompt,
        negative_prompt=merge_negative_prompts(request.negative_prompt, request.safety_negative_prompts),
        width=width,
        height=height,
        steps=steps,
        num_images=num_images,
        guidance_scale=guidance,
        seed=seed,
    )
