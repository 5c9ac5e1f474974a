"""`ShapesPipeline`: the bundled model as a diffusers pipeline, saved and loaded like any other.

It follows the Stable Diffusion pipelines' calling convention (prompt, negative_prompt,
height/width, num_inference_steps, guidance_scale, num_images_per_prompt, generator, latents,
callback_on_step_end, `_interrupt`) so the diffusers backend drives it with the same code.
`safegen serve` does not use it: the default backend runs the same loop on onnxruntime (runtime.py);
this pipeline is for training, the ONNX export and the equivalence tests, and for the bundled model
under torch-only settings (SAFEGEN_GEN_SCHEDULER, a CUDA device, half precision).
Pixel space: the UNet denoises 32x32 RGB directly (no VAE); the result is upscaled to the
requested size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from diffusers import DDIMScheduler, DiffusionPipeline, ImagePipelineOutput, UNet2DConditionModel
from PIL import Image

from .model import ShapesTextEncoder, unet_config
from .spec import (
    BOS_TOKEN,
    DEFAULT_GUIDANCE,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_STEPS,
    MAX_LENGTH,
    NATIVE_SIZE,
    PAD_TOKEN,
    SIZE_BOUNDS,
    UNK_TOKEN,
    VOCAB,
)


def build_tokenizer():
    """A word-level tokenizer over `VOCAB`: the same ids as `model.encode`, saved as tokenizer.json.

    Unknown words (for instance the guardrail's "nsfw, gore" safety negatives) become [UNK];
    training showed the model [UNK] runs, so they act like an empty prompt.
    """
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    from .spec import ALIASES

    vocab = {word: i for i, word in enumerate(VOCAB)}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Lowercase(),
            normalizers.Replace(Regex("[^a-z]+"), " "),
            # Aliases as whole-word replacements, mirroring model.ALIASES.
            *[normalizers.Replace(Regex(rf"\b{src}\b"), dst) for src, dst in ALIASES.items()],
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        model_max_length=MAX_LENGTH,
        padding_side="right",
        truncation_side="right",
    )


def build_scheduler() -> DDIMScheduler:
    # Same betas as training (cosine, 1000 steps); clipping x0 to [-1, 1] keeps colours in range.
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="epsilon",
        clip_sample=True,
        set_alpha_to_one=False,
    )


def build_pipeline() -> "ShapesPipeline":
    """An untrained pipeline with the bundled architecture (training fills in the weights)."""
    return ShapesPipeline(
        unet=UNet2DConditionModel(**unet_config(NATIVE_SIZE)),
        scheduler=build_scheduler(),
        text_encoder=ShapesTextEncoder(),
        tokenizer=build_tokenizer(),
    )


class ShapesPipeline(DiffusionPipeline):
    """Text-to-image over rendered shapes; classifier-free guidance with the negative prompt as
    the unconditional input, so a negative prompt pushes the image away from what it names."""

    model_cpu_offload_seq = "text_encoder->unet"
    _callback_tensor_inputs = ["latents"]
    # Read by the diffusers backend in place of SD's sample_size x vae_scale_factor defaults.
    default_image_size = DEFAULT_IMAGE_SIZE
    size_bounds = SIZE_BOUNDS
    default_steps = DEFAULT_STEPS
    default_guidance = DEFAULT_GUIDANCE

    def __init__(self, unet, scheduler, text_encoder, tokenizer):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)
        self._interrupt = False

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def save_bundled(self, out: str | Path, meta: dict) -> None:
        """Writes fp16 safetensors plus `training.json` (how the weights were made)."""
        out = Path(out)
        self.to(torch.float16)
        self.save_pretrained(out, safe_serialization=True)
        (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")

    def _encode(self, texts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(
            texts, padding="max_length", max_length=MAX_LENGTH, truncation=True, return_tensors="pt"
        ).input_ids
        return self.text_encoder(ids.to(self.device))

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        num_images_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        latents: torch.Tensor | None = None,
    ):
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if negative_prompt is None:
            negatives = [""] * len(prompts)
        elif isinstance(negative_prompt, str):
            negatives = [negative_prompt] * len(prompts)
        else:
            negatives = list(negative_prompt)
        if len(negatives) != len(prompts):
            raise ValueError("negative_prompt must match prompt in length")
        height = height or NATIVE_SIZE
        width = width or NATIVE_SIZE
        self._interrupt = False

        device = self.device
        dtype = self.unet.dtype
        n = len(prompts) * num_images_per_prompt
        cond = self._encode(prompts).repeat_interleave(num_images_per_prompt, dim=0)
        do_cfg = guidance_scale > 1.0
        if do_cfg:
            uncond = self._encode(negatives).repeat_interleave(num_images_per_prompt, dim=0)
            states = torch.cat([uncond, cond]).to(dtype)
        else:
            states = cond.to(dtype)

        shape = (n, self.unet.config.in_channels, NATIVE_SIZE, NATIVE_SIZE)
        if latents is not None:  # the initial noise given (as SD pipelines accept it), e.g. to compare runtimes
            if tuple(latents.shape) != shape:
                raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        elif isinstance(generator, list):
            latents = torch.cat([torch.randn((1, *shape[1:]), generator=g, device=g.device) for g in generator])
        else:
            latents = torch.randn(shape, generator=generator, device=generator.device if generator else device)
        latents = latents.to(device=device, dtype=dtype)

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        for i, t in enumerate(self.progress_bar(timesteps)):
            if self.interrupt:
                continue
            model_in = torch.cat([latents] * 2) if do_cfg else latents
            eps = self.unet(model_in, t, encoder_hidden_states=states).sample
            if do_cfg:
                eps_uncond, eps_cond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            latents = self.scheduler.step(
                eps, t, latents, generator=generator if not isinstance(generator, list) else None
            ).prev_sample
            if callback_on_step_end is not None:
                kwargs = {k: locals()[k] for k in (callback_on_step_end_tensor_inputs or [])}
                out = callback_on_step_end(self, i, t, kwargs)
                latents = out.pop("latents", latents)

        pixels = ((latents.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        arrays = pixels.permute(0, 2, 3, 1).cpu().numpy()
        images = [Image.fromarray(a) for a in arrays]
        if (width, height) != (NATIVE_SIZE, NATIVE_SIZE):
            # Bicubic: Lanczos rings visibly around flat colour edges at 16x upscaling.
            images = [im.resize((width, height), Image.Resampling.BICUBIC) for im in images]
        if output_type == "np":
            images = np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in images])
        elif output_type == "pt":
            images = torch.stack([torch.from_numpy(np.asarray(im)).permute(2, 0, 1).float() / 255.0 for im in images])
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
