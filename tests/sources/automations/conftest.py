"""Fixtures for the automations source tests: an asyncio backend for anyio-marked tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
