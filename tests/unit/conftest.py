"""Shared fixtures for the unit tests of the pure modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`@pytest.mark.anyio`) run on asyncio, the runtime the harvester uses."""
    return "asyncio"
