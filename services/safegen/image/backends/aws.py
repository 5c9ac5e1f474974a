"""Managed image backends, same contract as the local one: Rekognition DetectModerationLabels, Bedrock ApplyGuardrail.

Both send the original bytes (no decode here), map the service's answer to per-category
confidences and Rekognition-style labels, and turn botocore errors into domain errors with
safegen.core.aws.map_aws_error (throttling after retries -> Unavailable, access denied ->
FailedPrecondition). Hate symbols, weapons, drugs and gestures are only detected here.
"""

from __future__ import annotations

from typing import Sequence

from safegen.core.settings import AwsSettings
from safegen.core.types import Category, CategoryScore, ImageAssessment, Label, Level, Source
from safegen.image.backends.local import Thresholds
from safegen.image.backends.taxonomy import category_of, level_of, weight_of
from safegen.image.limits import ValidImage

#: Rekognition label confidence (percent) -> our confidence. LOW starts at MinConfidence (Rekognition
#: returns nothing below it); 50 is Rekognition's own default.
REKOGNITION_THRESHOLDS = Thresholds(50.0, 75.0, 90.0)

#: Bedrock gives a confidence level, not a probability: the score we report is this nominal value.
BEDROCK_SCORE = {Level.NONE: 0.0, Level.LOW: 0.5, Level.MEDIUM: 0.75, Level.HIGH: 0.95}


class RekognitionDetector:
    """Amazon Rekognition DetectModerationLabels (taxonomy v7), one call per image."""

    name = "rekognition"
    needs_decoded = False

    def __init__(self, client=None, min_confidence: float = 50.0, aws: AwsSettings | None = None):
        self.client = client if client is not None else (aws or AwsSettings.from_env()).client("rekognition")
        self.min_confidence = float(min_confidence)
        self.thresholds = Thresholds(
            max(self.min_confidence, REKOGNITION_THRESHOLDS.low),
            max(self.min_confidence, REKOGNITION_THRESHOLDS.medium),
            max(self.min_confidence, REKOGNITION_THRESHOLDS.high),
        )

    def assess(self, images: Sequence[ValidImage], source: Source = Source.OUTPUT) -> list[ImageAssessment]:
        return [self.assess_one(v) for v in images]

    def assess_one(self, v: ValidImage) -> ImageAssessment:
        from safegen.core.aws import map_aws_error

        try:
            resp = self.client.detect_moderation_labels(Image={"Bytes": v.data}, MinConfidence=self.min_confidence)
        except Exception as e:  # noqa: BLE001 - every botocore failure is mapped to one domain error
            raise map_aws_error(e, f"Rekognition DetectModerationLabels (images[{v.index}])") from None
        return self.from_response(resp, v)

    def from_response(self, resp: dict, v: ValidImage) -> ImageAssessment:
        labels: list[Label] = []
        best: dict[Category, float] = {}
        for raw in resp.get("ModerationLabels", []):
            name, parent = raw.get("Name", ""), raw.get("ParentName", "")
            conf = float(raw.get("Confidence", 0.0))
            cat = category_of(name, parent)
            if cat is None:
                continue  # a label from a newer taxonomy we cannot place: not counted, not invented
            level = int(raw.get("TaxonomyLevel") or level_of(name))
            labels.append(
                Label(name=name, parent_name=parent, confidence=round(conf, 2), taxonomy_level=level, category=cat)
            )
            evidence = conf * weight_of(name)
            best[cat] = max(best.get(cat, 0.0), evidence)
        scores = {cat: CategoryScore(cat, round(ev / 100.0, 4), self.thresholds.level(ev)) for cat, ev in best.items()}
        return ImageAssessment(
            scores=scores, labels=labels, format=v.format, width=v.width, height=v.height, backend=self.name
        )


class BedrockDetector:
    """Amazon Bedrock ApplyGuardrail with an image content block, one call per image.

    The Bedrock guardrail (id and version from settings) produces per-category confidences; the
    safegen guardrail named in the request then applies its own strengths to them, as for local
    detectors. outputScope FULL returns the confidences of filters that did not intervene too.
    """

    name = "bedrock"
    needs_decoded = False

    def __init__(
        self, guardrail_id: str, guardrail_version: str = "DRAFT", client=None, aws: AwsSettings | None = None
    ):
        if not guardrail_id:
            raise ValueError("SAFEGEN_IMAGE_BEDROCK_GUARDRAIL_ID is required for SAFEGEN_IMAGE_BACKEND=bedrock")
        self.guardrail_id = guardrail_id
        self.guardrail_version = guardrail_version or "DRAFT"
        self.client = client if client is not None else (aws or AwsSettings.from_env()).client("bedrock-runtime")

    def assess(self, images: Sequence[ValidImage], source: Source = Source.OUTPUT) -> list[ImageAssessment]:
        return [self.assess_one(v, source) for v in images]

    def request(self, v: ValidImage, source: Source = Source.OUTPUT) -> dict:
        return {
            "guardrailIdentifier": self.guardrail_id,
            "guardrailVersion": self.guardrail_version,
            "source": source.value,
            "content": [{"image": {"format": v.format.lower(), "source": {"bytes": v.data}}}],
            "outputScope": "FULL",
        }

    def assess_one(self, v: ValidImage, source: Source = Source.OUTPUT) -> ImageAssessment:
        from safegen.core.aws import map_aws_error

        try:
            resp = self.client.apply_guardrail(**self.request(v, source))
        except Exception as e:  # noqa: BLE001
            raise map_aws_error(e, f"Bedrock ApplyGuardrail (images[{v.index}])") from None
        return self.from_response(resp, v)

    def from_response(self, resp: dict, v: ValidImage) -> ImageAssessment:
        best: dict[Category, Level] = {}
        for assessment in resp.get("assessments", []):
            for f in (assessment.get("contentPolicy") or {}).get("filters", []):
                try:
                    cat = Category(f.get("type", ""))
                    level = Level.parse(f.get("confidence", "NONE"))
                except ValueError:
                    continue
                best[cat] = max(best.get(cat, Level.NONE), level)
        scores = {cat: CategoryScore(cat, BEDROCK_SCORE[lv], lv) for cat, lv in best.items()}
        return ImageAssessment(
            scores=scores, labels=[], format=v.format, width=v.width, height=v.height, backend=self.name
        )
