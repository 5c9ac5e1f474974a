"""The `Backends` port: what the gateway flow needs from text moderation, image generation and image moderation.

Two adapter sets implement it: safegen.gateway.inprocess (this process's moderators and generator,
called directly with the pinned guardrail object: no channel, no message, no lookup; all-in-one
`safegen serve`) and safegen.gateway.clients (gRPC to separate backend services; split mode, converting
at that edge). Both take and return domain values (the services' verdicts and the generator's request
and result) and raise safegen.errors.
"""

from __future__ import annotations

from typing import AsyncContextManager, Awaitable, Callable, Protocol, Sequence

from safegen.core.types import Source
from safegen.gateway.values import Pin
from safegen.generation.request import GenerationRequest, GenerationResult
from safegen.image.moderator import ImageVerdict
from safegen.text.moderator import TextVerdict

#: Awaited with (step, total_steps) after each denoising step while a streaming caller waits.
OnProgress = Callable[[int, int], Awaitable[None]]


class Backends(Protocol):
    async def moderate_text(self, text: str, source: Source, pin: Pin) -> TextVerdict:
        """The pinned guardrail's verdict on one text."""
        ...

    async def moderate_images(self, images: Sequence[bytes], source: Source, pin: Pin) -> list[ImageVerdict]:
        """One verdict per image, in order."""
        ...

    async def generate(
        self, request: GenerationRequest, pin: Pin, on_progress: OnProgress | None = None
    ) -> GenerationResult:
        """Images for `request` (carrying the pinned guardrail's safety negative prompts)."""
        ...

    def generation_place(self) -> AsyncContextManager[None]:
        """Holds a place in the generation queue for one request, from before its prompt is moderated until
        it is done: raises ResourceExhausted (as the generator would) when there is none, so a request that
        would be refused never pays for prompt moderation first. A no-op where the queue is elsewhere."""
        ...

    async def image_moderation_ready(self) -> None:
        """Returns when image moderation can take a call now; raises Unavailable naming it otherwise."""
        ...

    async def aclose(self) -> None:
        """Releases channels or the domain objects this adapter owns."""
        ...
