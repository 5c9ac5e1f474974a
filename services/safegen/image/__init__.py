"""Image moderation: input limits, local ONNX detectors, managed AWS backends, blurring and dataset scans."""
