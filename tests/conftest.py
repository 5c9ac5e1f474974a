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
    "tests/scan/test_shards.py",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = Path(item.path).resolve()
        if path.is_relative_to(REPO) and path.relative_to(REPO).as_posix() in HEAVY_MODULES:
            item.add_marker(pytest.mark.slow)
