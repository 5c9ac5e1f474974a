"""Fixtures of the guardrail policy tests (doubles and helpers are in policy_helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def gdir(tmp_path):
    """An empty guardrail directory."""
    d = tmp_path / "guardrails"
    d.mkdir()
    return d
