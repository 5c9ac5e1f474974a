"""Fixtures for image moderation tests: guardrails and a detector double."""

from __future__ import annotations

import pytest
from image_helpers import RedIsSexual

from safegen.policy import GuardrailRegistry


@pytest.fixture(scope="session")
def registry() -> GuardrailRegistry:
    return GuardrailRegistry.load()


@pytest.fixture
def fake_detector() -> RedIsSexual:
    return RedIsSexual()
