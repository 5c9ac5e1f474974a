"""Text in images: the OCR gate and reader on rendered signs, and how the moderator judges what was read."""

from __future__ import annotations

import pytest
from image_helpers import png
from PIL import Image, ImageDraw, ImageFont

from safegen.core.types import (
    BoundingBox,
    Category,
    CategoryScore,
    FilterVerdict,
    ImageAssessment,
    Level,
    Source,
    TextLine,
    WordListKind,
    WordMatch,
)
from safegen.image.backends.ocr import TextReader, text_likely
from safegen.image.moderator import IMAGE_CATEGORIES, ImageModerator
from safegen.image.limits import ImageLimits
from safegen.policy import GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from safegen.training import image_benchset, synthetic_images as synthetic


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def sign(text: str, size: int = 56, angle: float = 0, font: str = "DejaVuSans-Bold.ttf") -> Image.Image:
    img = Image.new("RGB", (512, 512), (245, 235, 200))
    fs = image_benchset.fonts()
    path = next((f for f in fs if f.endswith(font)), fs[0] if fs else None)
    f = ImageFont.truetype(path, size) if path else ImageFont.load_default(size)
    ImageDraw.Draw(img).text((40, 220), text, font=f, fill=(20, 20, 20))
    return img.rotate(angle, resample=Image.BICUBIC, fillcolor=(245, 235, 200)) if angle else img


@pytest.mark.parametrize("text,angle", [("kill them", 0), ("HATE YOU ALL", 0), ("FREE PORN", 12), ("go away", -15)])
def test_reader_reads_rendered_signs_with_boxes(reader, text, angle):
    lines = reader.read(sign(text, angle=angle))
    assert [ln.text.replace(" ", "").lower() for ln in lines] == [text.replace(" ", "").lower()]
    (ln,) = lines
    assert ln.score > 0.8
    b = ln.box
    assert 0 <= b.left < 0.2 and 0.3 < b.top < 0.5 and 0.05 < b.height < 0.3 and b.width > 0.25


def test_gate_opens_on_every_rendered_sign_and_stays_shut_on_flat_and_smooth_images():
    signs = list(image_benchset.signs(per_text=1))
    assert all(text_likely(img) for _, _, img in signs)
    for fam in ("gradient", "landscape", "skin_surface"):
        for seed in range(3):
            assert not text_likely(synthetic.FAMILIES[fam](seed)), (fam, seed)


def test_gate_saves_the_reader_on_images_without_text(reader):
    class Counting(TextReader):
        def __init__(self):
            self.__dict__.update(reader.__dict__)
            self.calls = 0

        def detect(self, img):
            self.calls += 1
            return super().detect(img)

    r = Counting()
    assert r.read(synthetic.gradient(1)) == [] and r.calls == 0
    assert r.read(sign("OPEN")) and r.calls == 1


# -- the moderator's text path, with doubles for the detector and the text moderation ---------------------------
class ReadsLines:
    """ImageDetector double: every image 'contains' the given lines, nothing visual."""

    name = "local"
    needs_decoded = True
    detectors = ("ocr",)

    def __init__(self, lines):
        self.lines = lines

    def assess(self, images, source=Source.OUTPUT):
        return [
            ImageAssessment(format=v.format, width=v.width, height=v.height, text_lines=list(self.lines))
            for v in images
        ]

    def coverage(self):
        from safegen.image.backends.coverage import local_coverage

        return local_coverage(("open_nsfw", "ocr"))


class Verdict:
    def __init__(self, filters, words):
        self.filters, self.words = filters, words


class KeywordText:
    """TextChecker double: 'kill' -> VIOLENCE HIGH, 'nude' -> SEXUAL MEDIUM, 'darn' -> a banned word."""

    def __init__(self):
        self.calls: list[str] = []

    def moderate(self, text, source=Source.INPUT, guardrail_id=""):
        self.calls.append(text)
        low = text.lower()
        conf = {
            Category.VIOLENCE: Level.HIGH if "kill" in low else Level.NONE,
            Category.SEXUAL: Level.MEDIUM if "nude" in low else Level.NONE,
        }
        filters = [
            FilterVerdict(
                c,
                0.9 if conf.get(c, Level.NONE) else 0.01 * (i + 1),
                conf.get(c, Level.NONE),
                Level.HIGH,
                bool(conf.get(c)),
            )
            for i, c in enumerate(IMAGE_CATEGORIES)
        ]
        words = (
            [WordMatch("darn", low.index("darn"), low.index("darn") + 4, WordListKind.CUSTOM, "darn")]
            if "darn" in low
            else []
        )
        return Verdict(filters, words)


def _line(text, top):
    return TextLine(text, 0.95, BoundingBox(0.1, top, 0.6, 0.1))


def _registry(extra_yaml: dict | None = None) -> GuardrailRegistry:
    base = GuardrailRegistry.load()
    gs = base.all()
    if extra_yaml:
        gs.append(parse_guardrail(extra_yaml, "test", extra_yaml["id"]))
    return GuardrailRegistry(gs)


def _moderate(lines, guardrail="", registry=None, text=None):
    text = text or KeywordText()
    mod = ImageModerator(
        ReadsLines(lines), registry or _registry(), ImageLimits(rate_per_s=0), min_confidence=50, text=text
    )
    return mod.moderate([png()], Source.OUTPUT, guardrail)[0], text


def test_only_the_offending_line_is_labelled_with_its_box_and_the_text_stays_hidden_by_default():
    v, text = _moderate([_line("WELCOME TO", 0.1), _line("we kill you", 0.5)])
    assert v.intervened
    assert [f.category for f in v.filters if f.detected] == [Category.VIOLENCE]
    (lb,) = [lb for lb in v.labels if lb.name == "Text"]
    assert (lb.category, lb.box, lb.text) == (Category.VIOLENCE, BoundingBox(0.1, 0.5, 0.6, 0.1), "")
    assert text.calls == ["WELCOME TO\nwe kill you", "WELCOME TO", "we kill you"]  # whole text, then each line


def test_a_category_only_the_lines_together_express_labels_every_line():
    class Together(KeywordText):
        def moderate(self, text, source=Source.INPUT, guardrail_id=""):
            return super().moderate("kill" if "\n" in text else text, source, guardrail_id)

    v, _ = _moderate([_line("WE WILL", 0.1), _line("GET YOU", 0.5)], text=Together())
    assert v.intervened and [lb.box.top for lb in v.labels] == [0.1, 0.5]


def test_text_min_confidence_ignores_weaker_classifier_levels_but_never_banned_words():
    mod = ImageModerator(
        ReadsLines([_line("nude beach", 0.4)]),
        _registry(),
        ImageLimits(rate_per_s=0),
        text=KeywordText(),
        text_min_confidence=Level.HIGH,
    )
    (v,) = mod.moderate([png()])
    assert not v.intervened  # SEXUAL MEDIUM < HIGH
    mod.detector = ReadsLines([_line("oh darn", 0.4)])
    assert mod.moderate([png()])[0].intervened


def test_benign_text_costs_one_text_check_and_no_label():
    v, text = _moderate([_line("FRESH BREAD", 0.1), _line("DAILY", 0.3)])
    assert not v.intervened and not v.labels and len(text.calls) == 1


def test_reveal_image_text_guardrail_key_puts_the_line_in_the_label():
    reg = _registry(
        {
            "id": "reveal",
            "contentPolicyConfig": {
                "filtersConfig": [{"type": "VIOLENCE", "inputStrength": "HIGH", "outputStrength": "HIGH"}]
            },
            "safegen": {"revealImageText": True},
        }
    )
    v, _ = _moderate([_line("we kill you", 0.5)], "reveal", reg)
    assert [lb.text for lb in v.labels if lb.name == "Text"] == ["we kill you"]


def test_image_text_uses_the_image_strengths_not_the_text_ones():
    reg = _registry(
        {
            "id": "textonly",
            "contentPolicyConfig": {
                "filtersConfig": [
                    {
                        "type": "VIOLENCE",
                        "inputStrength": "HIGH",
                        "outputStrength": "HIGH",
                        "inputModalities": ["TEXT"],
                        "outputModalities": ["TEXT"],
                    }
                ]
            },
        }
    )
    v, _ = _moderate([_line("we kill you", 0.5)], "textonly", reg)
    assert not v.intervened
    (violence,) = [f for f in v.filters if f.category == Category.VIOLENCE]
    assert (violence.confidence, violence.strength, violence.detected) == (Level.HIGH, Level.NONE, False)


def test_a_banned_word_alone_intervenes():
    v, _ = _moderate([_line("oh darn it", 0.2)])
    assert v.intervened and not any(f.detected for f in v.filters)
    assert [lb.name for lb in v.labels] == ["Text"]


def test_a_banned_word_line_next_to_another_category_drops_the_regions_so_the_whole_image_is_blurred():
    v, _ = _moderate([_line("oh darn it", 0.2), _line("we kill you", 0.5)])
    assert v.intervened and all(lb.box is None for lb in v.labels)


def test_at_most_100_words_are_read():
    long = [_line(" ".join(["word"] * 30), 0.02 * i) for i in range(6)]
    _, text = _moderate(long)
    assert len(text.calls[0].split()) == 100


def test_guardrail_rejects_bad_image_keys():
    from safegen.policy.guardrail import GuardrailConfigError

    with pytest.raises(GuardrailConfigError, match="requireImageCoverage"):
        parse_guardrail({"safegen": {"requireImageCoverage": ["NOPE"]}}, "f.yaml", "x")
    with pytest.raises(GuardrailConfigError, match="PROMPT_ATTACK"):
        parse_guardrail({"safegen": {"requireImageCoverage": ["PROMPT_ATTACK"]}}, "f.yaml", "x")
    with pytest.raises(GuardrailConfigError, match="revealImageText"):
        parse_guardrail({"safegen": {"revealImageText": "yes"}}, "f.yaml", "x")
    g = parse_guardrail({"safegen": {"requireImageCoverage": ["hate", "INSULTS"], "revealImageText": True}}, "f", "x")
    assert g.require_image_coverage == {Category.HATE, Category.INSULTS} and g.reveal_image_text


def test_visual_scores_and_text_scores_fuse_by_the_strongest():
    class Both(ReadsLines):
        def assess(self, images, source=Source.OUTPUT):
            out = super().assess(images, source)
            for a in out:
                a.scores[Category.SEXUAL] = CategoryScore(Category.SEXUAL, 0.4, Level.LOW)
            return out

    mod = ImageModerator(Both([_line("nude beach", 0.4)]), _registry(), ImageLimits(rate_per_s=0), text=KeywordText())
    v = mod.moderate([png()])[0]
    (sexual,) = [f for f in v.filters if f.category == Category.SEXUAL]
    assert (sexual.confidence, sexual.score) == (Level.MEDIUM, 0.9)


def test_blur_hides_the_offending_line_and_leaves_the_benign_one_readable(reader):
    """The real reader and blur: two lines on a sign, one offending; blurring the verdict's boxes makes that line
    unreadable and leaves the other line's pixels untouched (what the gateway's BLUR does with the boxes)."""
    import io

    import numpy as np

    from safegen.image.blur import blur_image

    img = Image.new("RGB", (512, 512), (245, 235, 200))
    fs = image_benchset.fonts()
    f = ImageFont.truetype(fs[0], 48) if fs else ImageFont.load_default(48)
    d = ImageDraw.Draw(img)
    d.text((40, 120), "FRESH BREAD", font=f, fill=(20, 20, 20))
    d.text((40, 330), "we kill you", font=f, fill=(20, 20, 20))

    class Local(ReadsLines):
        def assess(self, images, source=Source.OUTPUT):
            return [
                ImageAssessment(format=v.format, width=v.width, height=v.height, text_lines=reader.read(v.working))
                for v in images
            ]

    data = png(img)
    mod = ImageModerator(Local([]), _registry(), ImageLimits(rate_per_s=0), text=KeywordText())
    (v,) = mod.moderate([data])
    boxes = [lb.box for lb in v.labels if lb.name == "Text"]
    assert v.intervened and len(boxes) == 1 and boxes[0].top > 0.5
    out = np.asarray(Image.open(io.BytesIO(blur_image(data, boxes, full=False))).convert("RGB"), dtype=np.int16)
    src = np.asarray(img, dtype=np.int16)
    assert (out[100:190] == src[100:190]).all()  # the benign line: byte-identical pixels
    assert np.abs(out[330:380] - src[330:380]).mean() > 10  # the offending line: changed
    assert reader.read(Image.fromarray(out.astype(np.uint8))) and all(
        "kill" not in ln.text.lower() for ln in reader.read(Image.fromarray(out.astype(np.uint8)))
    )
