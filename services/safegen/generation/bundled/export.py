"""Exports the bundled model's text encoder and UNet to the committed ONNX files that `safegen serve` runs.

    PYTHONPATH=services python -m safegen.generation.bundled.export            # rewrites bundled/onnx/
    PYTHONPATH=services python -m safegen.generation.bundled.export --out DIR

Run it after every retrain (the onnxruntime path refuses ONNX files made from other weights: each file
records the SHA-256 of the safetensors it came from). Needs torch and diffusers, which serving does not.
The graphs are float32 (the fp16 weights upcast, as the diffusers backend runs them on CPU) with a
dynamic batch dimension; tests/generation/test_bundled_onnx.py re-exports and compares both with torch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import warnings
from pathlib import Path

from safegen.generation.settings import BUNDLED_MODEL_DIR, BUNDLED_ONNX_DIR

OPSET = 17
#: metadata_props key holding the SHA-256 of the safetensors file an ONNX file was exported from.
SOURCE_KEY = "safegen.source_sha256"
#: Component -> (ONNX file name, weights file it is exported from).
FILES = {
    "text_encoder": ("text_encoder.onnx", "text_encoder/diffusion_pytorch_model.safetensors"),
    "unet": ("unet.onnx", "unet/diffusion_pytorch_model.safetensors"),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_torch_pipeline(weights: Path = BUNDLED_MODEL_DIR):
    """The bundled ShapesPipeline in float32 on CPU, exactly as the diffusers backend loads it."""
    from safegen.generation.backends.diffusers import load_pipeline

    return load_pipeline(str(weights), device="cpu", dtype="float32")


@contextlib.contextmanager
def _exportable():
    """Switches off torch's fused TransformerEncoderLayer kernel (no ONNX symbolic) and the tracer's chatter."""
    import torch

    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def export(weights: Path = BUNDLED_MODEL_DIR, out: Path = BUNDLED_ONNX_DIR) -> list[Path]:
    """Writes text_encoder.onnx and unet.onnx for the weights in `weights` into `out`; returns their paths."""
    import onnx
    import torch

    from safegen.core.files import atomic_path
    from safegen.generation.bundled.spec import MAX_LENGTH, NATIVE_SIZE, encode

    pipe = load_torch_pipeline(weights)
    text_encoder, unet = pipe.text_encoder.eval(), pipe.unet.eval()

    class TextEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = text_encoder

        def forward(self, input_ids):
            return self.m(input_ids)

    class UNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = unet

        def forward(self, sample, timestep, encoder_hidden_states):
            return self.m(sample, timestep, encoder_hidden_states=encoder_hidden_states).sample

    ids = torch.tensor([encode("a red circle on a white background"), encode("")], dtype=torch.long)
    assert ids.shape[1] == MAX_LENGTH
    batch = {0: "batch"}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with torch.no_grad(), _exportable():
        states = text_encoder(ids)
        sample = torch.randn(
            2, unet.config.in_channels, NATIVE_SIZE, NATIVE_SIZE, generator=torch.Generator().manual_seed(0)
        )
        graphs = {
            "text_encoder": (TextEncoder(), (ids,), ["input_ids"], ["hidden_states"]),
            "unet": (
                UNet(),
                (sample, torch.tensor([999, 999]), states),
                ["sample", "timestep", "encoder_hidden_states"],
                ["noise_pred"],
            ),
        }
        for name, (module, args, inputs, outputs) in graphs.items():
            filename, source = FILES[name]
            tmp = out / f".{filename}.export"
            torch.onnx.export(
                module,
                args,
                str(tmp),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes={n: batch for n in inputs + outputs},
                opset_version=OPSET,
                dynamo=False,
            )
            model = onnx.load(str(tmp))
            tmp.unlink()
            model.doc_string = f"safegen bundled shapes model: {name}, exported by safegen.generation.bundled.export"
            entry = model.metadata_props.add()
            entry.key, entry.value = SOURCE_KEY, sha256(Path(weights) / source)
            target = out / filename
            with atomic_path(target, suffix=".onnx", mode=0o644) as path:
                path.write_bytes(model.SerializeToString())
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, default=BUNDLED_MODEL_DIR, help="the save_pretrained directory")
    p.add_argument("--out", type=Path, default=BUNDLED_ONNX_DIR, help="where the .onnx files go")
    args = p.parse_args(argv)
    from diffusers.utils import logging as diffusers_logging

    # Only this command's own lines: no "install accelerate" advice or loading progress bar around them.
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    for path in export(args.weights, args.out):
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
