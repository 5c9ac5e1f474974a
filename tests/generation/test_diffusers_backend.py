"""The diffusers backend on a tiny real Stable Diffusion pipeline, loaded through the production code path."""

from __future__ import annotations

import asyncio
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from safegen.errors import Cancelled, DeadlineExceeded, FailedPrecondition, ResourceExhausted
from safegen.generation.request import CancelToken, GenerationRequest, validate
from safegen.generation.backends.diffusers import DiffusersBackend, load_pipeline
from safegen.generation.backends import build_backend
from safegen.generation.generator import ImageGenerator
from safegen.generation.settings import GenerationSettings

SAFETY = ("nsfw", "gore")


@pytest.fixture(scope="module")
def backend(tiny_sd_dir):
    # Exactly what `safegen serve image-generation` does with SAFEGEN_GEN_MODEL pointing at a directory.
    b = build_backend(GenerationSettings.from_env({"SAFEGEN_GEN_MODEL": str(tiny_sd_dir), "HF_HUB_OFFLINE": "1"}))
    assert isinstance(b, DiffusersBackend)
    return b


def _req(backend, **kw):
    base = {
        "prompt": "a red circle",
        "width": 64,
        "height": 64,
        "steps": 3,
        "seed": 1,
        "safety_negative_prompts": SAFETY,
    }
    return validate(GenerationRequest(**{**base, **kw}), backend.limits)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_loads_a_saved_stable_diffusion_pipeline(backend, tiny_sd_dir):
    assert type(backend.pipe).__name__ == "StableDiffusionPipeline"
    assert backend.model_id == str(tiny_sd_dir)
    assert backend.device == "cpu"
    assert backend.limits.min_size == 64 and backend.limits.default_width == 64  # 16 px native, raised to min


def test_generates_pngs_with_progress_and_merged_negatives(backend):
    steps = []
    result = backend.generate(
        _req(backend, negative_prompt="blue", num_images=2, seed=10), lambda s, t: steps.append((s, t)), CancelToken()
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert len(result.images) == 2 and result.seeds == [10, 11]
    assert Image.open(io.BytesIO(result.images[0])).size == (64, 64)
    assert result.negative_prompt == "blue, nsfw, gore" and result.negative_prompt_applied
    assert result.backend == "diffusers"


def test_same_seed_same_image_and_image_i_uses_seed_plus_i(backend):
    a = backend.generate(_req(backend, seed=5, num_images=2), None, CancelToken())
    b = backend.generate(_req(backend, seed=5, num_images=2), None, CancelToken())
    alone = backend.generate(_req(backend, seed=6), None, CancelToken())
    other = backend.generate(_req(backend, seed=99), None, CancelToken())
    assert a.images == b.images
    assert np.abs(_pixels(a.images[1]) - _pixels(alone.images[0])).max() <= 2  # batched vs alone: float noise only
    assert np.abs(_pixels(a.images[0]) - _pixels(other.images[0])).max() > 10


def test_negative_prompt_changes_the_image(backend):
    plain = backend.generate(_req(backend, safety_negative_prompts=()), None, CancelToken())
    negated = backend.generate(
        _req(backend, negative_prompt="red circle", safety_negative_prompts=()), None, CancelToken()
    )
    assert plain.images != negated.images


def test_without_guidance_the_negative_prompt_is_reported_as_not_applied(backend):
    result = backend.generate(_req(backend, guidance_scale=1.0), None, CancelToken())
    assert not result.negative_prompt_applied and result.negative_prompt == ""
    assert any("negative prompt was not applied" in n for n in result.notes)


def test_cancel_stops_the_pipeline_between_steps(backend):
    token = CancelToken()
    steps = []

    def progress(step, total):
        steps.append(step)
        token.cancel()

    with pytest.raises(Cancelled):
        backend.generate(_req(backend, steps=20), progress, token)
    assert steps == [1]


def test_deadline_stops_the_pipeline(backend):
    import time

    token = CancelToken(deadline=time.monotonic() + 0.05)
    steps = []
    with pytest.raises(DeadlineExceeded):
        backend.generate(_req(backend, steps=150), lambda s, t: (steps.append(s), time.sleep(0.02)), token)
    assert len(steps) < 150


def test_cancelling_the_task_cancels_the_backend(backend):
    async def main():
        gen = ImageGenerator(backend, max_queue=0)
        steps = []
        started = asyncio.Event()

        def on_progress(step, total):
            steps.append(step)
            started.set()

        task = asyncio.ensure_future(
            gen.generate(GenerationRequest(prompt="p", width=64, height=64, steps=150, seed=1), on_progress=on_progress)
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return steps

    steps = asyncio.run(main())
    assert len(steps) < 150  # stopped at the next step, not run to the end


def test_queue_full_is_resource_exhausted(backend):
    async def main():
        gen = ImageGenerator(backend, max_queue=1)
        started = asyncio.Event()
        first = asyncio.ensure_future(
            gen.generate(
                GenerationRequest(prompt="p", width=64, height=64, steps=30, seed=1),
                on_progress=lambda s, t: started.set(),
            )
        )
        await started.wait()
        second = asyncio.ensure_future(
            gen.generate(GenerationRequest(prompt="p", width=64, height=64, steps=2, seed=2))
        )
        await asyncio.sleep(0)
        with pytest.raises(ResourceExhausted, match="busy") as busy:
            await gen.generate(GenerationRequest(prompt="p", width=64, height=64, steps=2, seed=3))
        # The message names the model that runs, not just the backend kind ("diffusers").
        assert backend.model_id in busy.value.message and "1 running and 1 waiting" in busy.value.message
        results = await asyncio.gather(first, second)  # the admitted ones still finish, in turn
        return results

    first, second = asyncio.run(main())
    assert len(first.images) == 1 and len(second.images) == 1


def test_scheduler_comes_from_settings(tiny_sd_dir):
    pipe = load_pipeline(str(tiny_sd_dir), scheduler="EulerDiscreteScheduler")
    assert type(pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    with pytest.raises(FailedPrecondition, match="not a diffusers scheduler"):
        load_pipeline(str(tiny_sd_dir), scheduler="NoSuchScheduler")


def test_dtype_comes_from_settings(tiny_sd_dir):
    import torch

    pipe = load_pipeline(str(tiny_sd_dir), dtype="bfloat16")
    assert pipe.unet.dtype == torch.bfloat16


def test_missing_model_is_failed_precondition(tmp_path):
    with pytest.raises(FailedPrecondition, match="cannot load diffusion model"):
        load_pipeline(str(tmp_path / "nowhere"), offline=True)


def test_unknown_pipeline_class_is_refused(tiny_sd_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_sd_dir, copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["_class_name"] = "EvilRemoteCodePipeline"
    (copy / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(FailedPrecondition, match="custom pipeline code is not loaded"):
        load_pipeline(str(copy))
