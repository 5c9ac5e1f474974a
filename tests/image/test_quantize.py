"""int8 candidates of the image models: the acceptance rule's judgement, and a build that really quantizes and stays close."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from safegen.image.backends.local import THRESHOLDS, Thresholds
from safegen.image.backends.quantize import CANDIDATES, MAX_DIFF, PREPROCESS, build, judge
from safegen.image.backends.weapons import GUN_CLASSES

T = Thresholds(0.30, 0.60, 0.85)


@pytest.mark.parametrize(
    "ref, got, passes, changed",
    [
        ([0.01, 0.20, 0.50], [0.015, 0.205, 0.505], True, []),
        ([0.01, 0.20, 0.50], [0.01, 0.20 + MAX_DIFF + 1e-4, 0.50], False, []),  # just over the tolerance
        ([0.01, 0.295, 0.50], [0.01, 0.302, 0.50], False, [1]),  # within tolerance but crosses LOW
        ([0.01, 0.20, 0.86], [0.01, 0.20, 0.849], False, [2]),  # HIGH -> MEDIUM
        ([0.0, 0.0], [0.0, 0.0], True, []),  # bit-exact
    ],
)
def test_judge_applies_the_tolerance_and_every_threshold(ref, got, passes, changed):
    j = judge(np.array(ref), np.array(got), T)
    assert j["passes"] is passes and j["changed"] == changed
    assert j["max_diff"] == pytest.approx(np.abs(np.array(got) - np.array(ref)).max())


@pytest.fixture(scope="module")
def photos():
    """scikit-image's sample photos: the originals calibrate, their centre crops are judged."""
    from safegen.training import image_benchset as bench

    views = [dict(bench.photo_views(img)) for _, img in bench.sample_photos()]
    return [v["orig"] for v in views], [v["crop_mid"] for v in views]


def test_weapons_candidate_is_a_real_int8_graph_close_to_float(tmp_path, photos):
    """Calibrated on ~20 photos only (the real recipe uses 320 images), so the bounds are looser than the rule's 0.01;
    it still catches a build that does not quantize, quantizes the wrong input, or breaks the graph."""
    import onnx
    import onnxruntime as ort

    from safegen.image.backends.weapons import WeaponClassifier

    recipe = CANDIDATES["weapons"]
    calibration, judged = ([PREPROCESS["weapons"](im) for im in ims] for ims in photos)
    out = build(recipe, tmp_path, inputs=np.stack(calibration).astype(np.float32))
    x = np.stack(judged).astype(np.float32)
    graph = onnx.load(str(out)).graph
    assert sum(n.op_type == "QuantizeLinear" for n in graph.node) >= 40  # every conv's input is quantized
    assert any(i.data_type == onnx.TensorProto.INT8 for i in graph.initializer)  # int8 weights, not float
    producer = {o: n for n in graph.node for o in n.output}
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    assert producer[graph.output[0].name] is softmax  # the probabilities are not re-quantized to 8 bits
    assert producer[softmax.input[0]].op_type == "Gemm"  # and the head (logits) stays float

    info = json.loads((tmp_path / "MODEL_INFO-efficientnet-lite0.int8.json").read_text())
    assert info["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert info["calibration"]["images"] == len(calibration)
    assert info["recipe"]["method"] == recipe.method and info["source"]["filename"] == "efficientnet-lite0.onnx"

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    q = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
    got = q.run(None, {q.get_inputs()[0].name: x})[0]
    ref = WeaponClassifier().probs(x)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.75  # it still sees what the float model sees
    idx = np.array(sorted(GUN_CLASSES))
    j = judge(ref[:, idx].sum(1), got[:, idx].sum(1), THRESHOLDS["weapons"])
    assert j["max_diff"] < 0.02 and not j["changed"]
