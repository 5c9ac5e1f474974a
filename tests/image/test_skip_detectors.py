"""The local models a guardrail cannot use are not run: categories at strength NONE, and the OCR when no text can matter."""

from __future__ import annotations

import numpy as np
import pytest
from image_helpers import png

from safegen.core.types import Source
from safegen.image.backends.local import LocalDetector
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.policy import GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from safegen.text.backends.local import WordsOnlyBackend
from safegen.text.moderator import TextModerator


class Calls:
    """Model doubles with the real models' methods; every call is recorded by model name."""

    def __init__(self):
        self.log: list[str] = []

    def nsfw(self):
        log = self.log

        class OpenNsfw:
            license = "test"

            def score(self, images, center_crop=True):
                log.append("open_nsfw")
                return np.full(len(images), 0.01, np.float32)

        return OpenNsfw()

    def xyran(self):
        log = self.log

        class Xyran:
            license = "test"

            def score_arrays(self, batch):
                log.append("xyran")
                return np.tile(np.array([[0.01, 0.01, 0.98]], np.float32), (len(batch), 1))

        return Xyran()

    def weapons(self):
        log = self.log

        class Weapons:
            license = "test"

            def score_arrays(self, batch):
                log.append("weapons")
                return np.full(len(batch), 0.001, np.float32)

        return Weapons()

    def ocr(self):
        log = self.log

        class Reader:
            license = "test"

            def read(self, img):
                log.append("ocr")
                return []

        return Reader()


def _guardrail(gid, filters, words=True):
    return parse_guardrail(
        {
            "id": gid,
            "name": gid,
            "contentPolicyConfig": {
                "filtersConfig": [{"type": c, "inputStrength": "HIGH", "outputStrength": "HIGH"} for c in filters]
            },
            **({"wordPolicyConfig": {"managedWordListsConfig": [{"type": "PROFANITY"}]}} if words else {}),
        },
        "test",
        gid,
    )


@pytest.fixture(scope="module")
def registry():
    extra = [
        _guardrail("sexual-only", ["SEXUAL"], words=False),
        _guardrail("violence-only", ["VIOLENCE"], words=False),
        _guardrail("hate-only", ["HATE"], words=False),
        _guardrail("words-only", [], words=True),
        _guardrail("nothing", [], words=False),
    ]
    return GuardrailRegistry(GuardrailRegistry.load().all() + extra)


@pytest.mark.parametrize(
    "guardrail, ran",
    [
        ("", ["open_nsfw", "weapons", "xyran", "ocr"]),  # the default guardrail: every model
        ("sexual-only", ["open_nsfw", "xyran", "ocr"]),  # xyran also scores SEXUAL; no weapons
        ("violence-only", ["weapons", "xyran", "ocr"]),  # no open_nsfw
        ("hate-only", ["ocr"]),  # HATE is only read in text locally
        ("words-only", ["ocr"]),  # banned words in image text still count
        ("nothing", []),
    ],
)
def test_only_the_models_the_guardrail_can_use_run(registry, guardrail, ran):
    calls = Calls()
    det = LocalDetector(
        ("open_nsfw", "xyran", "weapons", "ocr"),
        models={"open_nsfw": calls.nsfw(), "xyran": calls.xyran(), "weapons": calls.weapons(), "ocr": calls.ocr()},
    )
    mod = ImageModerator(det, registry, ImageLimits(rate_per_s=0), text=TextModerator(registry, WordsOnlyBackend()))
    (v,) = mod.moderate([png()], Source.OUTPUT, guardrail)
    assert calls.log == ran
    assert not v.intervened
