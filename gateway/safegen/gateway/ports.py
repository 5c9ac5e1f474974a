"""The `Backends` port: what the gateway flow needs from text moderation, image generation and image moderation.

Two adapter sets implement it: safegen.gateway.inprocess (this process's moderators and generator,
called directly: no channel, no serialisation; all-in-one `safegen serve`) and safegen.gateway.clients
(gRPC to separate backend services; split mode). Both take and return the backends' own request and
response messages (built in memory in process, never serialised there) and raise safegen.errors.
`guardrail_version` and `tighten_filters` pin the guardrail the flow resolved for the request.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol, Sequence

from safegen.v1 import image_generation_pb2, image_moderation_pb2, text_moderation_pb2

#: Awaited with each denoising step while a streaming caller waits.
OnProgress = Callable[[image_generation_pb2.GenerationProgress], Awaitable[None]]


class Backends(Protocol):
    async def moderate_text(self, text: str, source: int, guardrail_id: str, guardrail_version: str = "",
                            tighten_filters=()) -> text_moderation_pb2.ModerateTextResponse:
        """The guardrail's verdict on one text."""
        ...

    async def moderate_images(self, images: Sequence[bytes], source: int, guardrail_id: str,
                              guardrail_version: str = "", tighten_filters=()
                              ) -> image_moderation_pb2.ModerateImagesResponse:
        """One result per image, in order."""
        ...

    async def generate(self, request: image_generation_pb2.GenerateImagesRequest,
                       on_progress: OnProgress | None = None) -> image_generation_pb2.GenerateImagesResponse:
        """Images for `request` (the generation service adds the guardrail's safety negative prompts)."""
        ...

    async def image_moderation_ready(self) -> None:
        """Returns when image moderation can take a call now; raises Unavailable naming it otherwise."""
        ...

    async def aclose(self) -> None:
        """Releases channels or the domain objects this adapter owns."""
        ...
