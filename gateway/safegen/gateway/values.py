"""The gateway's domain values: a generation request, the guardrail pinned for it, per-image outcomes, timings, events.

The flow (safegen.gateway.flow) takes and returns these; the edges (safegen.gateway.convert, used by the
data plane for gRPC and HTTP callers alike) turn safegen.v1 messages into them and back. The verdicts
inside are the moderation services' own domain values (safegen.text.moderator.TextVerdict,
safegen.image.moderator.ImageVerdict) and the generator's (safegen.generation.request.GenerationResult),
so in one process nothing is converted between the stages. No grpc and no protobuf here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from safegen.core.types import Category, Level
from safegen.image.moderator import ImageVerdict
from safegen.policy import Guardrail
from safegen.text.moderator import TextVerdict

#: A request's tighten_filters: {category: (input strength, output strength)}, None keeps the guardrail's.
Tightening = Mapping[Category, "tuple[Level | None, Level | None]"]


@dataclass(frozen=True)
class SafeRequest:
    """What a caller asked the gateway for (Generate and StreamGenerate). Zero means the backend's default."""

    prompt: str
    negative_prompt: str = ""
    width: int = 0
    height: int = 0
    num_images: int = 0
    steps: int = 0
    guidance_scale: float = 0.0
    seed: int | None = None
    guardrail_id: str = ""
    guardrail_version: str = ""


@dataclass(frozen=True)
class Pin:
    """The guardrail resolved once for a request (tightening applied) and handed to every stage, so a reload
    between the stages cannot mix two versions. `tighten` is kept for backends in other processes, which
    resolve the same pinned version and apply the same tightening."""

    guardrail: Guardrail
    tighten: Tightening = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The version to send to another process: "" for a DRAFT (its latest, which is this one)."""
        return self.guardrail.version_name if self.guardrail.version else ""


class Stage(enum.Enum):
    """The three stages a streaming caller sees start and finish."""

    PROMPT_MODERATION = "prompt_moderation"
    GENERATION = "generation"
    IMAGE_MODERATION = "image_moderation"


@dataclass(frozen=True)
class StageEvent:
    """A stage started (finished False) or finished, with its attempt, seconds and a one-line detail."""

    stage: Stage
    finished: bool
    attempt: int = 0
    seconds: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    """One denoising step of the running generation."""

    step: int
    total_steps: int


#: Awaited by the flow with every event, for a streaming caller.
Emit = Callable[[StageEvent | Progress], Awaitable[None]]


@dataclass
class ImageOutcome:
    """One image the flow returns: its bytes (blurred, or empty when withheld), seed, attempt and verdict."""

    data: bytes
    seed: int
    attempt: int
    verdict: ImageVerdict
    blurred: bool = False
    withheld: bool = False


@dataclass(frozen=True)
class Timings:
    """Seconds per stage (summed over attempts) and in total; the share of the total spent moderating."""

    prompt_moderation: float
    generation: float
    image_moderation: float
    total: float
    moderation_overhead_ratio: float


@dataclass(frozen=True)
class SafeResult:
    """What the flow returns for one request: the prompt's verdict, the images with theirs, warnings, timings."""

    guardrail_id: str
    guardrail_version: str
    prompt: TextVerdict
    images: list[ImageOutcome]
    warnings: list[str]
    timings: Timings
    intervened: bool = False  # the guardrail acted: blocked, anonymized, blurred, withheld or warned
    detected: bool = False  # anything was detected, enforced or not (detect-only policies, SHADOW mode)
    attempts: int = 0
    model_id: str = ""
    negative_prompt: str = ""
    blocked_message: str = ""
