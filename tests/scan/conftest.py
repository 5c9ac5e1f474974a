"""Fixtures for dataset-scan tests: the default guardrails."""

from __future__ import annotations

import pytest

from safegen.policy import GuardrailRegistry


@pytest.fixture(scope="session")
def registry() -> GuardrailRegistry:
    return GuardrailRegistry.load()
