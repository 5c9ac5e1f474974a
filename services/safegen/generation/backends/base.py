"""The GenerationBackend contract every image source implements (bundled/diffusers, SageMaker, Bedrock)."""

from __future__ import annotations

import abc

from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, Limits, ProgressFn


class GenerationBackend(abc.ABC):
    """A place images come from. `generate` is blocking; the service runs it in a worker thread."""

    #: "diffusers", "sagemaker" or "bedrock".
    name: str = ""
    #: Generations a backend runs at once: 1 per device for local pipelines, more for remote endpoints.
    max_concurrency: int = 1

    @property
    @abc.abstractmethod
    def model_id(self) -> str: ...

    @property
    @abc.abstractmethod
    def limits(self) -> Limits: ...

    @abc.abstractmethod
    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken
    ) -> GenerationResult:
        """Generates `request` (already validated, defaults filled in, negative prompts merged)."""

    def close(self) -> None:
        """Releases clients or models; optional."""
