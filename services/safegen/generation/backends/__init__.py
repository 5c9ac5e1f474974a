"""Generation backends, one file each: the bundled model (onnxruntime), local diffusers pipelines, SageMaker, Bedrock."""

from __future__ import annotations

from safegen.generation.backends.base import GenerationBackend


def build_backend(settings) -> GenerationBackend:
    """The backend `settings` select. Heavy imports (torch, boto3) happen only for the chosen one."""
    from safegen.generation.settings import BackendKind

    if settings.backend == BackendKind.DIFFUSERS:
        from safegen.generation.backends.bundled import BundledBackend, runs_on_onnx

        if runs_on_onnx(settings):  # the default: the bundled model without torch
            return BundledBackend.from_settings(settings)
        from safegen.generation.backends.diffusers import DiffusersBackend

        return DiffusersBackend.from_settings(settings)
    if settings.backend == BackendKind.SAGEMAKER:
        from safegen.generation.backends.sagemaker import SageMakerBackend

        return SageMakerBackend.from_settings(settings)
    from safegen.generation.backends.bedrock import BedrockBackend

    return BedrockBackend.from_settings(settings)
