"""Validation and negative-prompt merging: the rules every backend shares."""

from __future__ import annotations

import time

import pytest

from safegen.errors import Cancelled, DeadlineExceeded, InvalidArgument
from safegen.generation.request import CancelToken, GenerationRequest, Limits, merge_negative_prompts, validate

LIMITS = Limits(
    min_size=64,
    max_size=1024,
    default_width=512,
    default_height=256,
    default_steps=20,
    max_steps=50,
    max_images=4,
    max_prompt_chars=100,
    max_negative_prompt_chars=50,
    min_guidance=1.0,
    max_guidance=10.0,
    default_guidance=7.0,
)


@pytest.mark.parametrize(
    "changes, field, allowed",
    [
        ({"prompt": ""}, "prompt", "1 to 100"),
        ({"prompt": "   "}, "prompt", "1 to 100"),
        ({"prompt": "x" * 101}, "prompt", "1 to 100"),
        ({"negative_prompt": "y" * 51}, "negative_prompt", "0 to 50"),
        ({"width": 100}, "width", "multiple of 8 from 64 to 1024"),
        ({"width": 1032}, "width", "multiple of 8 from 64 to 1024"),
        ({"height": 56}, "height", "multiple of 8 from 64 to 1024"),
        ({"steps": 51}, "steps", "1 to 50"),
        ({"num_images": 5}, "num_images", "1 to 4"),
        ({"guidance_scale": 0.5}, "guidance_scale", "1.0 to 10.0"),
        ({"guidance_scale": 11.0}, "guidance_scale", "1.0 to 10.0"),
        ({"seed": -1}, "seed", "0 to"),
    ],
)
def test_invalid_requests_name_the_field_and_range(changes, field, allowed):
    req = GenerationRequest(**{"prompt": "a red circle", **changes})
    with pytest.raises(InvalidArgument) as err:
        validate(req, LIMITS)
    assert field in err.value.message
    assert allowed in err.value.message


def test_defaults_are_filled_in():
    req = validate(GenerationRequest(prompt="  a red circle "), LIMITS)
    assert (req.prompt, req.width, req.height, req.steps, req.num_images, req.guidance_scale) == (
        "a red circle",
        512,
        256,
        20,
        1,
        7.0,
    )
    assert req.seed is not None and req.seed >= 0


def test_explicit_values_are_kept():
    req = validate(
        GenerationRequest(prompt="p", width=64, height=1024, steps=50, num_images=4, guidance_scale=1.0, seed=0), LIMITS
    )
    assert (req.width, req.height, req.steps, req.num_images, req.guidance_scale, req.seed) == (64, 1024, 50, 4, 1.0, 0)


@pytest.mark.parametrize(
    "user, safety, merged",
    [
        ("", (), ""),
        ("blue", (), "blue"),
        ("", ("nsfw, nudity", "gore"), "nsfw, nudity, gore"),
        ("blue, Gore", ("nsfw", "gore", "blood"), "blue, Gore, nsfw, blood"),
        ("  blurry ,, low   quality ", ("nsfw",), "blurry, low quality, nsfw"),
    ],
)
def test_safety_negative_prompts_are_always_merged(user, safety, merged):
    assert merge_negative_prompts(user, safety) == merged
    req = validate(GenerationRequest(prompt="p", negative_prompt=user, safety_negative_prompts=safety), LIMITS)
    assert req.negative_prompt == merged


def test_cancel_token():
    token = CancelToken()
    token.check()
    token.cancel()
    with pytest.raises(Cancelled):
        token.check()
    expired = CancelToken(deadline=time.monotonic() - 1)
    with pytest.raises(DeadlineExceeded):
        expired.check()
