"""Managed backends against botocore's Stubber (which validates requests and responses against the real
service models): label and confidence mapping, the image content block, throttling and access denied."""

from __future__ import annotations

import pytest
from botocore.stub import ANY, Stubber
from image_helpers import jpeg, png

from safegen.core.settings import AwsSettings
from safegen.core.types import Category, Level, Source
from safegen.errors import FailedPrecondition, InvalidArgument, Unavailable
from safegen.image.backends.aws import BedrockDetector, RekognitionDetector
from safegen.image.limits import ImageLimits, validate_images
from safegen.image.moderator import ImageModerator

USAGE = {
    "topicPolicyUnits": 0,
    "contentPolicyUnits": 0,
    "wordPolicyUnits": 0,
    "sensitiveInformationPolicyUnits": 0,
    "sensitiveInformationPolicyFreeUnits": 0,
    "contextualGroundingPolicyUnits": 0,
    "contentPolicyImageUnits": 1,
}
AWS = AwsSettings(region="us-east-1", max_attempts=2, connect_timeout_s=0.5, read_timeout_s=1.0)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def rekognition():
    det = RekognitionDetector(client=AWS.client("rekognition"), min_confidence=50)
    return det, Stubber(det.client)


def bedrock(guardrail="gr-123", version="3"):
    det = BedrockDetector(guardrail, version, client=AWS.client("bedrock-runtime"))
    return det, Stubber(det.client)


def valid(*datas):
    return validate_images(list(datas), ImageLimits(), decode=False)


def test_rekognition_hierarchical_labels_map_to_categories_and_levels():
    det, stub = rekognition()
    image = png()
    stub.add_response(
        "detect_moderation_labels",
        {
            "ModerationLabels": [
                {"Name": "Explicit", "ParentName": "", "Confidence": 96.5, "TaxonomyLevel": 1},
                {"Name": "Explicit Nudity", "ParentName": "Explicit", "Confidence": 96.5, "TaxonomyLevel": 2},
                {
                    "Name": "Exposed Female Nipple",
                    "ParentName": "Explicit Nudity",
                    "Confidence": 91.0,
                    "TaxonomyLevel": 3,
                },
                {"Name": "Hate Symbols", "ParentName": "", "Confidence": 72.0, "TaxonomyLevel": 1},
                {"Name": "Nazi Party", "ParentName": "Hate Symbols", "Confidence": 72.0, "TaxonomyLevel": 2},
                {"Name": "Alcohol", "ParentName": "", "Confidence": 99.0, "TaxonomyLevel": 1},
                {"Name": "Brand New Label", "ParentName": "", "Confidence": 99.0, "TaxonomyLevel": 1},
            ],
            "ModerationModelVersion": "7.0",
        },
        {"Image": {"Bytes": image}, "MinConfidence": 50.0},
    )
    with stub:
        [a] = det.assess(valid(image))
        stub.assert_no_pending_responses()
    assert a.backend == "rekognition" and a.format == "PNG"
    assert a.scores[Category.SEXUAL].confidence == Level.HIGH and a.scores[Category.SEXUAL].score == pytest.approx(
        0.965
    )
    assert a.scores[Category.HATE].confidence == Level.LOW
    # Alcohol is reported but carries no weight: a glass of wine is not misconduct.
    assert a.scores[Category.MISCONDUCT].confidence == Level.NONE
    names = [(lb.name, lb.parent_name, lb.taxonomy_level, lb.category) for lb in a.labels]
    assert ("Exposed Female Nipple", "Explicit Nudity", 3, Category.SEXUAL) in names
    assert ("Nazi Party", "Hate Symbols", 2, Category.HATE) in names
    assert not any(n[0] == "Brand New Label" for n in names)  # unknown labels are not invented into a category


@pytest.mark.parametrize("conf, level", [(55.0, Level.LOW), (80.0, Level.MEDIUM), (95.0, Level.HIGH)])
def test_rekognition_confidence_levels(conf, level):
    det, stub = rekognition()
    stub.add_response(
        "detect_moderation_labels",
        {
            "ModerationLabels": [
                {"Name": "Graphic Violence", "ParentName": "Violence", "Confidence": conf, "TaxonomyLevel": 2}
            ]
        },
        {"Image": ANY, "MinConfidence": 50.0},
    )
    with stub:
        [a] = det.assess(valid(jpeg()))
    assert a.scores[Category.VIOLENCE].confidence == level


def test_rekognition_through_the_moderator_applies_the_guardrail(registry):
    det, stub = rekognition()
    stub.add_response("detect_moderation_labels", {"ModerationLabels": []}, {"Image": ANY, "MinConfidence": 50.0})
    stub.add_response(
        "detect_moderation_labels",
        {
            "ModerationLabels": [
                {"Name": "Middle Finger", "ParentName": "Rude Gestures", "Confidence": 88.0, "TaxonomyLevel": 2}
            ]
        },
        {"Image": ANY, "MinConfidence": 50.0},
    )
    with stub:
        safe, rude = ImageModerator(det, registry, ImageLimits(rate_per_s=0)).moderate([png(), jpeg()], Source.OUTPUT)
    assert not safe.intervened and rude.intervened
    [insults] = [f for f in rude.filters if f.category == Category.INSULTS]
    assert insults.detected and insults.confidence == Level.MEDIUM and insults.strength == Level.HIGH


def test_rekognition_throttling_is_retried_with_backoff_then_unavailable():
    """Stubber answers before botocore's retry logic runs, so throttling is injected at the HTTP layer:
    this proves the client really retries (standard mode) before the error becomes UNAVAILABLE."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    det = RekognitionDetector(min_confidence=50, aws=AWS)
    sent = []

    def throttle(request, **_):
        sent.append(request.url)
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Raw(body))

    det.client.meta.events.register("before-send.rekognition.DetectModerationLabels", throttle)
    with pytest.raises(Unavailable, match=r"Rekognition DetectModerationLabels \(images\[0\]\) is throttling"):
        det.assess(valid(png()))
    # SAFEGEN_AWS_MAX_ATTEMPTS counts every call (botocore's total_max_attempts): 2 makes 2 calls.
    assert len(sent) == AWS.max_attempts == 2


def test_rekognition_throttling_error_maps_to_unavailable():
    det, stub = rekognition()
    stub.add_client_error("detect_moderation_labels", "ThrottlingException", "Rate exceeded", 400)
    with stub, pytest.raises(Unavailable, match="retry later"):
        det.assess(valid(png()))


def test_rekognition_access_denied_is_failed_precondition():
    det, stub = rekognition()
    stub.add_client_error("detect_moderation_labels", "AccessDeniedException", "not authorized", 400)
    with stub, pytest.raises(FailedPrecondition, match="denied access.*IAM role"):
        det.assess(valid(png()))


def test_rekognition_rejected_image_is_invalid_argument():
    det, stub = rekognition()
    stub.add_client_error("detect_moderation_labels", "InvalidImageFormatException", "bad image", 400)
    with stub, pytest.raises(InvalidArgument, match="rejected the input"):
        det.assess(valid(png()))


def test_bedrock_sends_an_image_block_and_maps_filter_confidences():
    det, stub = bedrock()
    image = jpeg()
    stub.add_response(
        "apply_guardrail",
        {
            "usage": USAGE,
            "action": "GUARDRAIL_INTERVENED",
            "outputs": [],
            "assessments": [
                {
                    "contentPolicy": {
                        "filters": [
                            {
                                "type": "SEXUAL",
                                "confidence": "NONE",
                                "filterStrength": "HIGH",
                                "action": "NONE",
                                "detected": False,
                            },
                            {
                                "type": "VIOLENCE",
                                "confidence": "MEDIUM",
                                "filterStrength": "HIGH",
                                "action": "BLOCKED",
                                "detected": True,
                            },
                            {
                                "type": "HATE",
                                "confidence": "LOW",
                                "filterStrength": "LOW",
                                "action": "NONE",
                                "detected": False,
                            },
                        ]
                    }
                }
            ],
        },
        {
            "guardrailIdentifier": "gr-123",
            "guardrailVersion": "3",
            "source": "INPUT",
            "outputScope": "FULL",
            "content": [{"image": {"format": "jpeg", "source": {"bytes": image}}}],
        },
    )
    with stub:
        [a] = det.assess(valid(image), Source.INPUT)
        stub.assert_no_pending_responses()
    assert a.backend == "bedrock"
    assert a.scores[Category.VIOLENCE].confidence == Level.MEDIUM
    assert a.scores[Category.HATE].confidence == Level.LOW  # our guardrail decides, not Bedrock's strength
    assert a.scores[Category.SEXUAL].confidence == Level.NONE


def test_bedrock_png_and_guardrail_strengths_apply(registry):
    det, stub = bedrock()
    stub.add_response(
        "apply_guardrail",
        {
            "usage": USAGE,
            "action": "NONE",
            "outputs": [],
            "assessments": [
                {
                    "contentPolicy": {
                        "filters": [
                            {
                                "type": "HATE",
                                "confidence": "LOW",
                                "filterStrength": "LOW",
                                "action": "NONE",
                                "detected": False,
                            }
                        ]
                    }
                }
            ],
        },
        {
            "guardrailIdentifier": "gr-123",
            "guardrailVersion": "3",
            "source": "OUTPUT",
            "outputScope": "FULL",
            "content": [{"image": {"format": "png", "source": {"bytes": ANY}}}],
        },
    )
    with stub:
        [v] = ImageModerator(det, registry, ImageLimits(rate_per_s=0)).moderate([png()], Source.OUTPUT)
    # The default guardrail's HIGH strength intervenes at LOW confidence, whatever Bedrock's own strength was.
    assert v.intervened and [f.category for f in v.filters if f.detected] == [Category.HATE]


@pytest.mark.parametrize(
    "code, error, fragment",
    [
        ("ThrottlingException", Unavailable, "throttling or unavailable after retries"),
        ("AccessDeniedException", FailedPrecondition, "denied access"),
        ("ValidationException", InvalidArgument, "rejected the input"),
        ("ResourceNotFoundException", Exception, "not found"),
    ],
)
def test_bedrock_errors(code, error, fragment):
    det, stub = bedrock()
    stub.add_client_error("apply_guardrail", code, "boom", 400)
    with stub, pytest.raises(error, match=fragment):
        det.assess(valid(png()))


def test_bedrock_needs_a_guardrail_id():
    with pytest.raises(ValueError, match="SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID"):
        BedrockDetector("", client=object())
