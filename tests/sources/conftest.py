"""Every source's async tests run on asyncio, the loop the harvester uses."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
