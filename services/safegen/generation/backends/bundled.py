"""The bundled shapes model on onnxruntime: the default backend (`SAFEGEN_GEN_BACKEND=diffusers`, no model).

Same contract, limits, seeds and images as running the bundled weights through the diffusers
backend, without importing torch, diffusers or transformers (those imports were ~93% of the
all-in-one start). The response still says `backend: "diffusers"`: that field names the
SAFEGEN_GEN_BACKEND value that ran (the proto's documented values), and the bundled model has
always been that backend's default; `model_id` says which model it was.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from safegen.generation.backends.base import GenerationBackend
from safegen.generation.bundled.spec import DEFAULT_GUIDANCE, DEFAULT_IMAGE_SIZE, DEFAULT_STEPS, SIZE_BOUNDS
from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, Limits, ProgressFn
from safegen.generation.settings import BUNDLED_MODEL_DIR, BUNDLED_ONNX_DIR

MODEL_ID = "safegen-bundled-shapes"


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def runs_on_onnx(settings) -> bool:
    """Whether `settings` select the bundled model on onnxruntime. Settings that only torch can honour
    (another scheduler, a CUDA device, half precision) keep the bundled model on the diffusers backend."""
    return (
        not settings.model
        and not settings.scheduler
        and settings.device in ("", "auto", "cpu")
        and settings.dtype in ("", "auto", "float32")
    )


class BundledBackend(GenerationBackend):
    """One onnxruntime pipeline; one generation at a time, like the diffusers backend on one device."""

    name = "diffusers"
    max_concurrency = 1

    def __init__(
        self,
        weights: Path = BUNDLED_MODEL_DIR,
        onnx_dir: Path = BUNDLED_ONNX_DIR,
        *,
        threads: int = 1,
        default_width: int = 0,
        default_height: int = 0,
        default_steps: int = 0,
        default_guidance: float = 0.0,
    ):
        from safegen.generation.bundled.runtime import ShapesOnnxPipeline

        self.pipe = ShapesOnnxPipeline(weights, onnx_dir, threads)
        lo, hi = SIZE_BOUNDS
        self._limits = Limits(
            min_size=lo,
            max_size=hi,
            default_width=default_width or DEFAULT_IMAGE_SIZE,
            default_height=default_height or DEFAULT_IMAGE_SIZE,
            default_steps=default_steps or DEFAULT_STEPS,
            default_guidance=default_guidance or DEFAULT_GUIDANCE,
            max_steps=150,
            max_images=8,
        )
        self._lock = threading.Lock()  # belt and braces: the service already admits one at a time

    @classmethod
    def from_settings(cls, settings) -> "BundledBackend":
        # One intra-op thread unless SAFEGEN_GEN_TORCH_THREADS says otherwise: a UNet step on 32x32 is too small
        # to split, and on a shared 2-core machine under load a step took 31-36 ms on one thread, 57-62 ms on two.
        return cls(
            threads=settings.torch_threads or 1,
            default_width=settings.default_width,
            default_height=settings.default_height,
            default_steps=settings.default_steps,
            default_guidance=settings.default_guidance,
        )

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def limits(self) -> Limits:
        return self._limits

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken
    ) -> GenerationResult:
        n = request.num_images
        seeds = [request.seed + i for i in range(n)]

        def on_step(step: int, total: int) -> None:
            cancel.check()  # Cancelled / DeadlineExceeded stop the loop before the next step
            if progress is not None:
                progress(step + 1, total)

        notes = []
        negative_applied = request.guidance_scale > 1.0
        if not negative_applied:
            # Without classifier-free guidance there is no unconditional pass for the negative prompt.
            notes.append(
                "guidance_scale <= 1 disables classifier-free guidance, so the negative prompt was not applied"
            )
        cancel.check()
        with self._lock:
            images = self.pipe(
                request.prompt,
                request.negative_prompt if negative_applied else "",
                seeds=seeds,
                steps=request.steps,
                guidance_scale=request.guidance_scale,
                width=request.width,
                height=request.height,
                on_step=on_step,
            )
        return GenerationResult(
            images=[_png(im) for im in images],
            seeds=seeds,
            model_id=self.model_id,
            backend=self.name,
            negative_prompt=request.negative_prompt if negative_applied else "",
            negative_prompt_applied=negative_applied,
            notes=notes,
        )
