"""The bundled shapes model: committed weights, served on onnxruntime by default, follows prompts.

The quality tests run the default backend (onnxruntime); test_bundled_onnx.py shows it draws the same
images as the diffusers pipeline, so they hold for both.
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from safegen.training.bundled import evaluate
from safegen.generation.bundled.model import UNK_ID, encode
from safegen.generation.request import CancelToken, GenerationRequest, validate
from safegen.generation.settings import BUNDLED_MODEL_DIR

SEEDS = range(8)


@pytest.fixture(scope="module")
def backend():
    # No SAFEGEN_GEN_MODEL: the embedded default, through the same loader as any local pipeline.
    return evaluate.load(os.environ.get("SAFEGEN_TEST_BUNDLED_MODEL"))


@pytest.fixture(scope="module")
def saved_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(BUNDLED_MODEL_DIR / "tokenizer"))


def test_weights_are_committed_small_and_fp16():
    files = [p for p in BUNDLED_MODEL_DIR.rglob("*") if p.is_file()]
    assert (BUNDLED_MODEL_DIR / "model_index.json").is_file()
    assert sum(p.stat().st_size for p in files) <= 20 * 1024 * 1024
    from safetensors import safe_open

    weights = [p for p in files if p.suffix == ".safetensors"]
    assert {p.parent.name for p in weights} == {"unet", "text_encoder"}
    for path in weights:
        with safe_open(str(path), "pt") as f:
            assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F16"}
    meta = json.loads((BUNDLED_MODEL_DIR / "training.json").read_text())
    assert meta["steps"] > 0 and meta["train_minutes"] > 0


def test_loaded_by_default_on_onnxruntime(backend):
    if os.environ.get("SAFEGEN_TEST_BUNDLED_MODEL"):  # a candidate checkpoint runs through diffusers
        assert type(backend.pipe).__name__ == "ShapesPipeline"
    else:
        assert type(backend.pipe).__name__ == "ShapesOnnxPipeline"
        assert backend.model_id == "safegen-bundled-shapes"
    assert backend.name == "diffusers"
    assert backend.limits.min_size == 32 and backend.limits.default_width == 256


@pytest.mark.parametrize(
    "text",
    [
        "a red circle on a white background",
        "Blue, NSFW, nudity, gore!!",
        "",
        "a small green triangle in the centre",
        "x " * 40,
    ],
)
def test_saved_tokenizer_matches_the_training_encoding(saved_tokenizer, text):
    # The diffusers pipeline tokenizes with the saved tokenizer.json; the onnxruntime path with spec.encode.
    ids = saved_tokenizer(text, padding="max_length", max_length=16, truncation=True).input_ids
    assert ids == encode(text)


def test_unknown_words_become_unk():
    ids = encode("blue, nsfw, nudity, gore")
    assert ids[1] != UNK_ID and ids[2:5] == [UNK_ID] * 3


def test_one_image_upscaled_to_the_requested_size(backend):
    # Its speed is bench/bench_generation.py's business (tests do not assert timings).
    req = validate(
        GenerationRequest(
            prompt="a red circle on a white background",
            width=512,
            height=384,
            seed=0,
            safety_negative_prompts=("nsfw", "gore"),
        ),
        backend.limits,
    )
    result = backend.generate(req, None, CancelToken())
    assert Image.open(io.BytesIO(result.images[0])).size == (512, 384)


def test_follows_the_prompt_across_seeds(backend):
    # The requirement, with the guardrail's safety negatives merged as the gateway does.
    images = evaluate.generate(
        backend, "a red circle on a white background", SEEDS, negative=", ".join(["nsfw", "nudity", "gore"])
    )
    hits = [evaluate.matches(im, "red", "white") for im in images]
    assert sum(hits) >= 6, hits


@pytest.mark.parametrize("fg,shape,bg", evaluate.PROMPTS)
def test_follows_every_colour_pair(backend, fg, shape, bg):
    # Chance for one (foreground, background) pair is 1 in 30; the committed weights get 5 to 8 of 8.
    images = evaluate.generate(
        backend, f"a {fg} {shape} on a {bg} background", SEEDS, negative=", ".join(["nsfw", "nudity", "gore"])
    )
    hits = [evaluate.matches(im, fg, bg) for im in images]
    assert sum(hits) >= 4, hits


def test_roles_are_not_swapped(backend):
    # The failure the position-embedding initialisation fixes: "white on red" for "red on white".
    images = evaluate.generate(backend, "a white square on a red background", SEEDS)
    matched = sum(evaluate.matches(im, "white", "red") for im in images)
    swapped = sum(evaluate.matches(im, "red", "white") for im in images)
    assert matched >= 6 and swapped <= 1, (matched, swapped)


def test_negative_prompt_moves_the_image(backend):
    # The circle's colour is left open, so some seeds draw it blue; 16 seeds make that near-certain.
    prompt = "a circle on a white background"
    plain = evaluate.generate(backend, prompt, range(16))
    negated = evaluate.generate(backend, prompt, range(16), negative="blue")
    blue_plain = np.mean([evaluate.fractions(im)["blue"] for im in plain])
    blue_negated = np.mean([evaluate.fractions(im)["blue"] for im in negated])
    assert blue_plain > 0.02, blue_plain
    assert blue_negated < 0.5 * blue_plain, (blue_plain, blue_negated)
