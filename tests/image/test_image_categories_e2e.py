"""The default local pipeline end to end (real models, real prompt text moderation): the issue's signs are intervened, sample photos pass."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from safegen.core.types import Category, Source
from safegen.policy import GuardrailRegistry
from safegen.training import image_benchset


@pytest.fixture(scope="module")
def moderator():
    from safegen.image.servicer import create_servicer

    return create_servicer(GuardrailRegistry.load(), {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}).moderator


def _sign(text: str) -> bytes:
    img = Image.new("RGB", (512, 512), (250, 250, 245))
    fs = image_benchset.fonts()
    f = ImageFont.truetype(fs[0], 40) if fs else ImageFont.load_default(40)
    d = ImageDraw.Draw(img)
    lines = image_benchset._wrap(d, text, f, 440)
    for i, line in enumerate(lines):
        d.text((30, 180 + 56 * i), line, font=f, fill=(10, 10, 10))
    return image_benchset.encode(img)


@pytest.mark.parametrize(
    "text", ["I WILL KILL YOU AND YOUR FAMILY", "DEATH TO ALL IMMIGRANTS", "HOT NUDE GIRLS XXX PORN"]
)
def test_the_issues_signs_are_intervened_with_line_boxes(moderator, text):
    (v,) = moderator.moderate([_sign(text)], Source.OUTPUT)
    assert v.intervened, [(f.category, f.confidence) for f in v.filters]
    texts = [lb for lb in v.labels if lb.name == "Text"]
    assert texts and all(lb.box is not None and lb.text == "" for lb in texts)  # boxes; text hidden by default
    assert {c.category for c in v.coverage if not c.covered} == {Category.HATE, Category.INSULTS, Category.MISCONDUCT}


def test_benign_sign_and_sample_photos_pass(moderator):
    pytest.importorskip("skimage")
    photos = image_benchset.sample_photos()
    assert len(photos) >= 20
    data = [_sign("FRESH BREAD DAILY")] + [image_benchset.encode(img.convert("RGB")) for _, img in photos]
    flagged = [
        name
        for name, v in zip(
            ["sign"] + [n for n, _ in photos],
            moderator.moderate(data[:20]) + moderator.moderate(data[20:]),
            strict=True,
        )
        if v.intervened
    ]
    assert flagged == []


def test_an_in_process_dataset_scan_judges_the_text_in_images_too():
    """scan-dataset moderates in-process with its own ImageModerator: text read by OCR must be judged there too."""
    from safegen.scan.moderation import in_process_images

    moderate, _backend = in_process_images("", Source.INPUT)
    unsafe, benign = moderate([("a.png", _sign("HOT NUDE GIRLS XXX PORN")), ("b.png", _sign("FRESH BREAD DAILY"))])
    assert unsafe["verdict"] == "UNSAFE" and any(lb["name"] == "Text" for lb in unsafe["labels"]), unsafe
    assert benign["verdict"] == "SAFE", benign
