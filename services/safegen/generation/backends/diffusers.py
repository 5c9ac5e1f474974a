"""The `diffusers` backend: any Stable Diffusion family pipeline (and the bundled model) on CUDA or CPU.

Every local model goes through `load_pipeline`: the class named in the directory's model_index.json
is resolved (diffusers' own classes, or safegen's bundled pipeline) and loaded with `from_pretrained`.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import os
import threading
from pathlib import Path

from safegen.errors import Cancelled, DeadlineExceeded, FailedPrecondition, InvalidArgument
from safegen.generation.backends.base import GenerationBackend
from safegen.generation.request import CancelToken, GenerationRequest, GenerationResult, Limits, ProgressFn

log = logging.getLogger("safegen.generation.diffusers")

#: Pipeline classes that are not part of diffusers but may be named in a model_index.json. Only these
#: are imported: a model directory can never make us import arbitrary code.
SAFEGEN_PIPELINES = {
    "ShapesPipeline": "safegen.generation.bundled.pipeline",
}


class _Abort(Exception):
    """Raised from the step callback to stop a pipeline mid-loop; carries the domain error to re-raise."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def resolve_device(device: str) -> str:
    import torch

    if device in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FailedPrecondition(f"SAFEGEN_GEN_DEVICE={device} but CUDA is not available on this machine")
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype in ("", "auto"):
        return torch.float16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]


def _pipeline_class(model: str):
    """The pipeline class for `model`: named by a local model_index.json, else diffusers' auto-resolution."""
    import diffusers

    index = Path(model) / "model_index.json"
    if not index.is_file():
        return diffusers.DiffusionPipeline  # a hub id: DiffusionPipeline reads the cached model_index.json
    name = json.loads(index.read_text()).get("_class_name")
    if isinstance(name, str) and name in SAFEGEN_PIPELINES:
        return getattr(importlib.import_module(SAFEGEN_PIPELINES[name]), name)
    if isinstance(name, str) and hasattr(diffusers, name):
        return getattr(diffusers, name)
    raise FailedPrecondition(
        f"{index} names pipeline class {name!r}, which is neither a diffusers class nor one of "
        f"{', '.join(SAFEGEN_PIPELINES)}; custom pipeline code is not loaded"
    )


def load_pipeline(
    model: str, device: str = "auto", dtype: str = "auto", scheduler: str = "", offline: bool | None = None
):
    """Loads a pipeline from a local directory or the local Hugging Face cache. Never downloads when
    HF_HUB_OFFLINE is set (and this machine has no hub access anyway)."""
    import diffusers

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    cls = _pipeline_class(model)
    try:
        pipe = cls.from_pretrained(model, dtype=torch_dtype, local_files_only=offline or Path(model).is_dir())
    except (OSError, ValueError, EnvironmentError) as exc:
        raise FailedPrecondition(
            f"cannot load diffusion model {model!r}: {exc}. Set SAFEGEN_GEN_MODEL to a local pipeline "
            f"directory (save_pretrained layout) or a model id present in the Hugging Face cache"
        ) from exc
    if scheduler:
        sched_cls = getattr(diffusers, scheduler, None)
        if sched_cls is None or not issubclass(sched_cls, diffusers.SchedulerMixin):
            raise FailedPrecondition(f"SAFEGEN_GEN_SCHEDULER={scheduler!r} is not a diffusers scheduler class")
        pipe.scheduler = sched_cls.from_config(pipe.scheduler.config)
    pipe = pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _default_size(pipe) -> int:
    # The bundled pipeline names its default; SD pipelines derive it from the UNet and VAE.
    size = getattr(pipe, "default_image_size", None)
    if size:
        return int(size)
    sample = getattr(pipe, "default_sample_size", None) or getattr(getattr(pipe, "unet", None), "config", {}).get(
        "sample_size"
    )
    factor = getattr(pipe, "vae_scale_factor", 8)
    return int(sample * factor) if sample else 512


class DiffusersBackend(GenerationBackend):
    """One pipeline on one device. The service admits one generation at a time (`max_concurrency = 1`):
    diffusers pipelines are not safe to call concurrently, and a GPU gains nothing from interleaving."""

    name = "diffusers"
    max_concurrency = 1

    def __init__(
        self,
        pipe,
        model_id: str,
        *,
        default_width: int = 0,
        default_height: int = 0,
        default_steps: int = 0,
        default_guidance: float = 0.0,
    ):
        self.pipe = pipe
        self._model_id = model_id
        self.device = str(getattr(pipe, "device", "cpu"))
        lo, hi = getattr(pipe, "size_bounds", (64, 2048))
        size = min(max(_default_size(pipe), lo), hi)
        self._limits = Limits(
            min_size=lo,
            max_size=hi,
            default_width=default_width or size,
            default_height=default_height or size,
            default_steps=default_steps or getattr(pipe, "default_steps", 30),
            default_guidance=default_guidance or getattr(pipe, "default_guidance", 7.5),
            max_steps=150,
            max_images=8,
        )
        self._takes_negative_prompt = "negative_prompt" in inspect.signature(pipe.__call__).parameters
        self._lock = threading.Lock()  # belt and braces: the service already admits one at a time

    @classmethod
    def from_settings(cls, settings) -> "DiffusersBackend":
        if settings.torch_threads:
            import torch

            torch.set_num_threads(settings.torch_threads)
        model = settings.model_path
        pipe = load_pipeline(model, settings.device, settings.dtype, settings.scheduler)
        model_id = "safegen-bundled-shapes" if not settings.model else settings.model
        return cls(
            pipe,
            model_id,
            default_width=settings.default_width,
            default_height=settings.default_height,
            default_steps=settings.default_steps,
            default_guidance=settings.default_guidance,
        )

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def limits(self) -> Limits:
        return self._limits

    def generate(
        self, request: GenerationRequest, progress: ProgressFn | None, cancel: CancelToken
    ) -> GenerationResult:
        import torch

        n = request.num_images
        gen_device = "cpu" if self.device.startswith("mps") else self.device
        # One generator per image (seed + i): image i is the same whether asked alone or in a batch.
        generators = [torch.Generator(device=gen_device).manual_seed(request.seed + i) for i in range(n)]
        total = request.steps

        def on_step(pipe, step, timestep, kwargs):
            try:
                cancel.check()
            except (Cancelled, DeadlineExceeded) as exc:
                pipe._interrupt = True  # stops pipelines that honour it even if the raise were swallowed
                raise _Abort(exc) from None
            if progress is not None:
                progress(step + 1, getattr(pipe, "_num_timesteps", None) or total)
            return kwargs

        notes = []
        negative_applied = True
        kwargs = {}
        if not self._takes_negative_prompt:
            negative_applied = False
            notes.append(
                f"{type(self.pipe).__name__} has no negative prompt input; the negative prompt was not applied"
            )
        elif request.guidance_scale <= 1.0:
            # Without classifier-free guidance there is no unconditional pass for the negative prompt
            # to replace (turbo models run this way).
            negative_applied = False
            notes.append(
                "guidance_scale <= 1 disables classifier-free guidance, so the negative prompt was not applied"
            )
        else:
            kwargs["negative_prompt"] = request.negative_prompt or None

        cancel.check()
        with self._lock:
            try:
                out = self.pipe(
                    prompt=request.prompt,
                    **kwargs,
                    width=request.width,
                    height=request.height,
                    num_inference_steps=request.steps,
                    guidance_scale=request.guidance_scale,
                    num_images_per_prompt=n,
                    generator=generators,
                    callback_on_step_end=on_step,
                )
            except _Abort as abort:
                raise abort.error from None
            except ValueError as exc:
                # Pipelines validate sizes and prompts themselves (e.g. SDXL's added conditions).
                raise InvalidArgument(f"the pipeline rejected the request: {exc}") from exc
        images = [_png(im) for im in out.images]
        nsfw = getattr(out, "nsfw_content_detected", None)
        if nsfw and any(nsfw):
            notes.append("the pipeline's own safety checker blanked %d image(s)" % sum(bool(x) for x in nsfw))
        return GenerationResult(
            images=images,
            seeds=[request.seed + i for i in range(n)],
            model_id=self.model_id,
            backend=self.name,
            negative_prompt=request.negative_prompt if negative_applied else "",
            negative_prompt_applied=negative_applied,
            notes=notes,
        )
