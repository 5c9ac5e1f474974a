"""The bundled model on onnxruntime and numpy: what `safegen serve` runs, without importing torch or diffusers.

The committed ONNX text encoder and UNet (export.py), the DDIM sampler of the committed scheduler
config (ddim.py), torch's CPU noise for each seed (noise.py), and the sampling loop of
`ShapesPipeline.__call__` step for step: classifier-free guidance with the negative prompt as the
unconditional input (skipped at guidance <= 1), one noise tensor per image from `seed + i`, a
callback after every step that may raise to stop the loop, then pixels in [-1, 1] to uint8 and a
bicubic upscale. tests/generation/test_bundled_onnx.py checks that the images match the diffusers
pipeline's for the same seeds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from safegen.errors import FailedPrecondition
from safegen.generation.bundled.ddim import DDIM
from safegen.generation.bundled.noise import torch_randn
from safegen.generation.bundled.spec import NATIVE_SIZE, encode

#: Called after each step with (step index from 0, number of steps); raising stops the loop.
StepFn = Callable[[int, int], None]

# Kept in step with export.py (which imports torch, so it is not imported here).
_SOURCE_KEY = "safegen.source_sha256"
_FILES = {
    "text_encoder": ("text_encoder.onnx", "text_encoder/diffusion_pytorch_model.safetensors"),
    "unet": ("unet.onnx", "unet/diffusion_pytorch_model.safetensors"),
}
_EXPORT_HINT = "run `python -m safegen.generation.bundled.export` (needs torch and diffusers) and commit the files"


def _session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class ShapesOnnxPipeline:
    """Text-to-image over rendered shapes on onnxruntime; `__call__` returns PIL images."""

    def __init__(self, weights: Path, onnx_dir: Path, threads: int = 1):
        sessions = {}
        for name, (filename, source) in _FILES.items():
            path = Path(onnx_dir) / filename
            if not path.is_file():
                raise FailedPrecondition(f"{path} is missing: {_EXPORT_HINT}")
            sess = _session(path, threads)
            made_from = sess.get_modelmeta().custom_metadata_map.get(_SOURCE_KEY)
            weights_file = Path(weights) / source
            if weights_file.is_file() and made_from != hashlib.sha256(weights_file.read_bytes()).hexdigest():
                # Retrained weights with the old export would silently draw the old model's images.
                raise FailedPrecondition(f"{path} was exported from other weights than {weights_file}: {_EXPORT_HINT}")
            sessions[name] = sess
        self.text_encoder, self.unet = sessions["text_encoder"], sessions["unet"]
        self.scheduler = DDIM.from_config_file(Path(weights) / "scheduler" / "scheduler_config.json")
        self.channels = int(self.unet.get_inputs()[0].shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        ids = np.array([encode(t) for t in texts], dtype=np.int64)
        return self.text_encoder.run(None, {"input_ids": ids})[0]

    def initial_noise(self, seeds: Sequence[int]) -> np.ndarray:
        """One [C, 32, 32] tensor per seed, as torch.randn on a Generator seeded with it draws it."""
        return np.concatenate([torch_randn(s, (1, self.channels, NATIVE_SIZE, NATIVE_SIZE)) for s in seeds])

    def __call__(
        self,
        prompt: str,
        negative_prompt: str = "",
        *,
        seeds: Sequence[int],
        steps: int,
        guidance_scale: float,
        width: int = NATIVE_SIZE,
        height: int = NATIVE_SIZE,
        on_step: StepFn | None = None,
        latents: np.ndarray | None = None,
    ) -> list[Image.Image]:
        """One image per seed (or per row of `latents`, the initial noise, when given)."""
        x = self.initial_noise(seeds) if latents is None else np.asarray(latents, dtype=np.float32)
        n = x.shape[0]
        do_cfg = guidance_scale > 1.0
        cond = np.repeat(self.encode([prompt]), n, axis=0)
        if do_cfg:
            states = np.concatenate([np.repeat(self.encode([negative_prompt]), n, axis=0), cond])
        else:
            states = cond
        timesteps = self.scheduler.timesteps(steps)
        guidance = np.float32(guidance_scale)
        for i, t in enumerate(timesteps):
            model_in = np.concatenate([x, x]) if do_cfg else x
            t_batch = np.full(model_in.shape[0], t, dtype=np.int64)
            eps = self.unet.run(None, {"sample": model_in, "timestep": t_batch, "encoder_hidden_states": states})[0]
            if do_cfg:
                eps_uncond, eps_cond = eps[:n], eps[n:]
                eps = eps_uncond + guidance * (eps_cond - eps_uncond)
            x = self.scheduler.step(eps, int(t), x, steps)
            if on_step is not None:
                on_step(i, len(timesteps))
        pixels = np.round((np.clip(x, -1, 1) + 1) * np.float32(127.5)).astype(np.uint8)
        images = [Image.fromarray(a) for a in pixels.transpose(0, 2, 3, 1)]
        if (width, height) != (NATIVE_SIZE, NATIVE_SIZE):
            # Bicubic: Lanczos rings visibly around flat colour edges at 16x upscaling.
            images = [im.resize((width, height), Image.Resampling.BICUBIC) for im in images]
        return images
