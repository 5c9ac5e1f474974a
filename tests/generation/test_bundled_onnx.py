"""The bundled model's onnxruntime path: same noise, sampler, graphs and images as the diffusers pipeline, no torch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from safegen.errors import Cancelled, DeadlineExceeded, FailedPrecondition
from safegen.generation.backends import build_backend
from safegen.generation.backends.bundled import BundledBackend
from safegen.generation.bundled.ddim import DDIM
from safegen.generation.bundled.noise import torch_randn
from safegen.generation.request import CancelToken, GenerationRequest, validate
from safegen.generation.settings import BUNDLED_MODEL_DIR, BUNDLED_ONNX_DIR, GenerationSettings

SCHEDULER_CONFIG = BUNDLED_MODEL_DIR / "scheduler" / "scheduler_config.json"


@pytest.fixture(scope="module")
def onnx_backend():
    backend = build_backend(GenerationSettings.from_env({}))  # the default settings pick it
    assert isinstance(backend, BundledBackend)
    return backend


@pytest.fixture(scope="module")
def torch_backend():
    # The same committed weights through diffusers: naming the directory selects the diffusers backend.
    from safegen.generation.backends.diffusers import DiffusersBackend

    backend = build_backend(GenerationSettings.from_env({"SAFEGEN_GEN_MODEL": str(BUNDLED_MODEL_DIR)}))
    assert isinstance(backend, DiffusersBackend) and type(backend.pipe).__name__ == "ShapesPipeline"
    return backend


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize(
    "seed,shape",
    [(0, (1, 3, 32, 32)), (41, (1, 3, 32, 32)), (2**32 - 2, (1, 3, 32, 32)), (7, (1, 3, 5, 7)), (3, (16,)), (9, (17,))],
)
def test_noise_is_torch_randn_of_the_seed(seed, shape):
    import torch

    expected = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).numpy()
    got = torch_randn(seed, shape)
    assert got.dtype == np.float32 and got.shape == shape
    assert np.abs(got - expected).max() < 1e-5


def test_noise_refuses_what_it_cannot_reproduce():
    with pytest.raises(ValueError, match="under 16"):
        torch_randn(0, (3, 5))
    with pytest.raises(ValueError, match="seed"):
        torch_randn(2**32, (16,))


@pytest.mark.parametrize("steps", [1, 7, 20, 150])
def test_ddim_matches_diffusers_scheduler(steps):
    import torch
    from diffusers import DDIMScheduler

    ours = DDIM.from_config_file(SCHEDULER_CONFIG)
    theirs = DDIMScheduler.from_config(json.loads(SCHEDULER_CONFIG.read_text()))
    theirs.set_timesteps(steps)
    assert ours.timesteps(steps).tolist() == theirs.timesteps.tolist()
    rng = np.random.default_rng(steps)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32) * 3  # large enough that clipping bites
    for t in ours.timesteps(steps)[:5]:
        eps = rng.standard_normal(x.shape).astype(np.float32)
        expected = theirs.step(torch.from_numpy(eps), torch.tensor(t), torch.from_numpy(x)).prev_sample.numpy()
        got = ours.step(eps, int(t), x, steps)
        assert np.abs(got - expected).max() < 1e-5
        x = got


@pytest.mark.parametrize(
    "change,message",
    [
        ({"prediction_type": "v_prediction"}, "prediction_type"),
        ({"timestep_spacing": "trailing"}, "timestep_spacing"),
        ({"_class_name": "EulerDiscreteScheduler"}, "DDIMScheduler"),
        ({"variance_offset": 1}, "unknown DDIM options"),
    ],
)
def test_ddim_refuses_options_it_does_not_implement(change, message):
    cfg = {**json.loads(SCHEDULER_CONFIG.read_text()), **change}
    with pytest.raises(ValueError, match=message):
        DDIM.from_config(cfg)


def _run(path, feeds):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_committed_onnx_matches_torch_and_a_fresh_export(tmp_path):
    """The committed files are what `python -m safegen.generation.bundled.export` makes of the committed
    weights: both they and a fresh export give the torch modules' outputs, on a batch size and prompts
    other than the ones traced."""
    import torch

    from safegen.generation.bundled import export
    from safegen.generation.bundled.spec import encode

    fresh = {p.name: p for p in export.export(out=tmp_path)}
    assert set(fresh) == {"text_encoder.onnx", "unet.onnx"}
    pipe = export.load_torch_pipeline()
    texts = ["a small blue triangle on the left on a yellow background", "nsfw, gore", "", "red red red"]
    ids = torch.tensor([encode(t) for t in texts])
    sample = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    timestep = torch.tensor([999, 500, 50, 0])
    with torch.no_grad():
        states = pipe.text_encoder(ids)
        eps = pipe.unet(sample, timestep, encoder_hidden_states=states).sample
    for directory in (BUNDLED_ONNX_DIR, tmp_path):
        got_states = _run(directory / "text_encoder.onnx", {"input_ids": ids.numpy()})
        assert np.abs(got_states - states.numpy()).max() < 1e-4
        got_eps = _run(
            directory / "unet.onnx",
            {"sample": sample.numpy(), "timestep": timestep.numpy(), "encoder_hidden_states": states.numpy()},
        )
        assert np.abs(got_eps - eps.numpy()).max() < 1e-4


@pytest.mark.parametrize(
    "request_kw",
    [
        {
            "prompt": "a red circle on a white background",
            "seed": 0,
            "num_images": 3,
            "width": 32,
            "height": 32,
            "safety_negative_prompts": ("nsfw", "nudity", "gore"),
        },
        {
            "prompt": "a blue square on a yellow background",
            "negative_prompt": "red",
            "seed": 123,
            "width": 256,
            "height": 256,
            "steps": 7,
            "guidance_scale": 3.0,
        },
        {"prompt": "a circle", "seed": 5, "guidance_scale": 1.0, "width": 64, "height": 32},
    ],
)
def test_same_images_as_the_diffusers_pipeline_for_the_same_seeds(onnx_backend, torch_backend, request_kw):
    req = validate(GenerationRequest(**request_kw), onnx_backend.limits)
    assert validate(GenerationRequest(**request_kw), torch_backend.limits) == req
    ours, theirs = onnx_backend.generate(req, None, CancelToken()), torch_backend.generate(req, None, CancelToken())
    assert len(ours.images) == len(theirs.images) == req.num_images
    for a, b in zip(ours.images, theirs.images):
        diff = np.abs(_pixels(a) - _pixels(b))
        assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())  # float rounding only
    assert (ours.seeds, ours.negative_prompt, ours.negative_prompt_applied, ours.notes, ours.backend) == (
        theirs.seeds,
        theirs.negative_prompt,
        theirs.negative_prompt_applied,
        theirs.notes,
        theirs.backend,
    )


def test_same_images_as_the_diffusers_pipeline_for_the_same_initial_noise(onnx_backend, torch_backend):
    import torch

    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(77)) * 1.1
    kw = dict(steps=10, guidance_scale=2.0)
    ours = onnx_backend.pipe("a yellow circle on a blue background", "green", seeds=[], latents=noise.numpy(), **kw)
    theirs = torch_backend.pipe(
        prompt="a yellow circle on a blue background",
        negative_prompt="green",
        num_inference_steps=kw["steps"],
        guidance_scale=kw["guidance_scale"],
        num_images_per_prompt=2,
        latents=noise,
    ).images
    for a, b in zip(ours, theirs):
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 2


def test_progress_every_step_and_limits_of_the_bundled_model(onnx_backend, torch_backend):
    assert onnx_backend.limits == torch_backend.limits
    assert onnx_backend.name == "diffusers" and onnx_backend.model_id == "safegen-bundled-shapes"
    steps = []
    req = validate(GenerationRequest(prompt="a red square", steps=4, seed=1, num_images=2), onnx_backend.limits)
    result = onnx_backend.generate(req, lambda s, t: steps.append((s, t)), CancelToken())
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert result.seeds == [1, 2] and Image.open(io.BytesIO(result.images[0])).size == (256, 256)


def test_image_i_is_the_same_alone_or_in_a_batch(onnx_backend):
    batch = onnx_backend.generate(
        validate(GenerationRequest(prompt="a green triangle", seed=40, num_images=2), onnx_backend.limits),
        None,
        CancelToken(),
    )
    alone = onnx_backend.generate(
        validate(GenerationRequest(prompt="a green triangle", seed=41), onnx_backend.limits), None, CancelToken()
    )
    assert np.abs(_pixels(batch.images[1]) - _pixels(alone.images[0])).max() <= 1


def test_cancellation_and_deadline_stop_the_loop_at_the_next_step(onnx_backend):
    req = validate(GenerationRequest(prompt="a red circle", steps=50, seed=1), onnx_backend.limits)
    token, seen = CancelToken(), []

    def progress(step, total):
        seen.append(step)
        if step == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        onnx_backend.generate(req, progress, token)
    assert seen == [1, 2, 3]
    with pytest.raises(DeadlineExceeded):
        onnx_backend.generate(req, None, CancelToken(deadline=0.0))


def test_torch_only_settings_keep_the_bundled_model_on_diffusers():
    from safegen.generation.backends.bundled import runs_on_onnx

    assert runs_on_onnx(GenerationSettings.from_env({}))
    assert runs_on_onnx(GenerationSettings.from_env({"SAFEGEN_GEN_DEVICE": "cpu", "SAFEGEN_GEN_DTYPE": "float32"}))
    for env in (
        {"SAFEGEN_GEN_SCHEDULER": "EulerDiscreteScheduler"},
        {"SAFEGEN_GEN_DEVICE": "cuda"},
        {"SAFEGEN_GEN_DTYPE": "bfloat16"},
        {"SAFEGEN_GEN_MODEL": str(BUNDLED_MODEL_DIR)},
    ):
        assert not runs_on_onnx(GenerationSettings.from_env(env)), env


def test_missing_or_stale_onnx_files_are_a_precise_failed_precondition(tmp_path):
    import shutil

    with pytest.raises(FailedPrecondition, match="text_encoder.onnx is missing.*bundled.export"):
        BundledBackend(onnx_dir=tmp_path)
    weights = tmp_path / "weights"
    shutil.copytree(BUNDLED_MODEL_DIR, weights)
    unet = weights / "unet" / "diffusion_pytorch_model.safetensors"
    unet.write_bytes(unet.read_bytes()[:-1] + b" ")  # "retrained" weights, the old export
    with pytest.raises(FailedPrecondition, match="unet.onnx was exported from other weights"):
        BundledBackend(weights=weights)


_NO_TORCH = textwrap.dedent("""
    import sys
    {setup}
    heavy = sorted(m for m in ("torch", "diffusers", "transformers", "sentence_transformers") if m in sys.modules)
    print(heavy)
""")


@pytest.mark.parametrize(
    "setup",
    [
        # The generation service alone, one image generated.
        """from safegen.generation.servicer import create_servicer
from safegen.generation.request import CancelToken, GenerationRequest, validate
from safegen.policy import GuardrailRegistry
gen = create_servicer(GuardrailRegistry.load(), {}).generator.backend
gen.generate(validate(GenerationRequest(prompt="a red circle", steps=2), gen.limits), None, CancelToken())""",
        # What `safegen serve` builds with the default settings: all four services.
        """from safegen.serve import SERVICES, build
from safegen.policy import GuardrailRegistry
build(SERVICES, GuardrailRegistry.load(), {})""",
    ],
    ids=["image-generation", "all-in-one"],
)
def test_serving_path_imports_no_torch_or_diffusers(setup):
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH.format(setup=setup)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
