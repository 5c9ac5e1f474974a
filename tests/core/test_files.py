"""atomic_path / atomic_write: the target is replaced whole or not at all, and no temp file is left."""

from __future__ import annotations

import stat

import pytest

from safegen.core.files import atomic_path, atomic_write


def test_atomic_path_replaces_the_target_with_the_given_mode(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with atomic_path(target, suffix=".onnx", mode=0o644) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".onnx" and tmp != target
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # not visible until the block ends
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_path_keeps_the_old_file_and_removes_the_temp_on_error(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("export failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_atomic_write_creates_a_new_file(tmp_path):
    atomic_write(tmp_path / "ready.json", b"{}")
    assert (tmp_path / "ready.json").read_bytes() == b"{}"
